"""Command-line flags that name one layer, with PyTorch's parameter names.

The flags are parsed into plain ints and strings here and handed to `ConvSpec`,
which does all validation; a malformed flag raises `ValueError` naming the flag, the
value and the expected form, so the CLI can print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import re

from symconv.spec import MODES, ConvSpec

LECTURE_INPUT = "3x3"
LECTURE_KERNEL = "2"


def add_spec_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of `symconv derive`, shared by every command that takes one layer."""
    group = parser.add_argument_group(
        "layer (defaults: the lecture example, 3×3 input, 2×2 kernel)"
    )
    group.add_argument(
        "--input",
        default=LECTURE_INPUT,
        metavar="SHAPE",
        help="W, HxW, CxHxW or NxCxHxW (with --dims 3: DxHxW, CxDxHxW, NxCxDxHxW)",
    )
    group.add_argument(
        "--kernel",
        default=LECTURE_KERNEL,
        metavar="K",
        help="3 (every dimension), 3x3 or 3x3x3; default 2",
    )
    group.add_argument(
        "--dims",
        type=int,
        choices=(1, 2, 3),
        default=None,
        help="spatial dimensions (default: from --kernel, else 1 for W, 2 otherwise)",
    )
    group.add_argument("--out-channels", default="1", metavar="C_OUT")
    group.add_argument("--stride", default="1", metavar="S", help="2 or 2,1 (per dimension)")
    group.add_argument(
        "--padding",
        default="0",
        metavar="P",
        help="1, 1,2, 0:1,1:0 (lo:hi per dimension), same or valid",
    )
    group.add_argument("--dilation", default="1", metavar="D", help="2 or 2,1")
    group.add_argument("--groups", default="1", metavar="G")
    group.add_argument("--bias", action="store_true", help="add a bias per output channel")
    group.add_argument("--mode", default="cross-correlation", choices=MODES)
    group.add_argument("--dtype", default="float32", choices=("float32", "float64"))


def _int(flag: str, text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text.strip()):
        raise ValueError(f"{flag}={text!r} must be an integer")
    return int(text)


def _int_list(flag: str, text: str) -> tuple[int, ...]:
    """'3', '3x3', '3,3' -> ints; a single value stays a 1-tuple for the caller to broadcast."""
    parts = re.split(r"[x×,]", text.strip())
    if not all(parts):
        raise ValueError(f"{flag}={text!r} must look like 3 or 3x3 or 2,1")
    return tuple(_int(flag, p) for p in parts)


def _per_dim_or_int(flag: str, text: str) -> int | tuple[int, ...]:
    values = _int_list(flag, text)
    return values[0] if len(values) == 1 else values


def parse_padding(text: str) -> object:
    """'same', 'valid', '1', '1,2', '0:1,1:0' -> what ConvSpec accepts."""
    text = text.strip()
    if text in ("same", "valid"):
        return text
    if ":" not in text:
        return _per_dim_or_int("--padding", text)
    pairs = []
    for item in text.split(","):
        lo_hi = item.split(":")
        if len(lo_hi) != 2:
            raise ValueError(f"--padding={text!r}: {item!r} must be lo:hi, e.g. 0:1")
        pairs.append((_int("--padding", lo_hi[0]), _int("--padding", lo_hi[1])))
    return tuple(pairs)


def spec_from_args(args: argparse.Namespace) -> ConvSpec:
    """Build the validated ConvSpec that the flags describe."""
    kernel = _int_list("--kernel", args.kernel)
    shape = _int_list("--input", args.input)
    rank = args.dims or (len(kernel) if len(kernel) > 1 else min(len(shape), 2))
    if len(shape) < rank:
        raise ValueError(
            f"--input={args.input!r} has {len(shape)} entries, fewer than the {rank} spatial "
            "dimensions the kernel has"
        )
    if len(shape) > rank + 2:
        raise ValueError(
            f"--input={args.input!r} has {len(shape)} entries; with {rank} spatial "
            f"dimension(s) it takes at most {rank + 2} (N x C x spatial)"
        )
    leading = shape[: len(shape) - rank]
    batch = leading[0] if len(leading) == 2 else 1
    in_channels = leading[-1] if leading else 1
    return ConvSpec(
        input_size=shape[len(shape) - rank :],
        kernel_size=kernel[0] if len(kernel) == 1 else kernel,
        in_channels=in_channels,
        out_channels=_int("--out-channels", args.out_channels),
        batch=batch,
        stride=_per_dim_or_int("--stride", args.stride),
        padding=parse_padding(args.padding),
        dilation=_per_dim_or_int("--dilation", args.dilation),
        groups=_int("--groups", args.groups),
        bias=args.bias,
        dtype=args.dtype,
        mode=args.mode,
    )
