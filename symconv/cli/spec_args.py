"""Command-line flags that name one layer, with PyTorch's parameter names.

The flags are parsed into plain ints and strings here and handed to `ConvSpec`,
which does all validation; a malformed flag raises `ValueError` naming the flag, the
value and the expected form, so the CLI can print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import re

from symconv.kinds import ConvSpec, PoolSpec
from symconv.kinds.convolution import MODES
from symconv.kinds.pooling import POOL_KINDS

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
            "dimensions of the layer (from --kernel or --dims)"
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


# ----- pooling and the user's numbers (symconv derive) ------------------------------------------
#: Convolution flags and their defaults: --pool-only derives no convolution, so a changed one
#: would be silently ignored; it is refused instead.
CONV_ONLY_FLAGS = {
    "kernel": LECTURE_KERNEL,
    "out_channels": "1",
    "stride": "1",
    "padding": "0",
    "dilation": "1",
    "groups": "1",
    "bias": False,
    "mode": "cross-correlation",
}


def add_pool_flags(parser: argparse.ArgumentParser) -> None:
    """--pool, --pool-only, --values, --filter-values (seed 001: conv, then max pooling)."""
    group = parser.add_argument_group(
        "pooling and numbers (seed 001: a convolution, then max pooling)"
    )
    group.add_argument(
        "--pool",
        metavar="KIND:K[:S[:P]]",
        help="pool the convolution's output: max:2, avg:3:2, max:2x2 (kind max or avg, "
        "window K, stride S = K by default, padding P = 0); shows the gradient through both "
        "layers",
    )
    group.add_argument(
        "--pool-only",
        action="store_true",
        help="derive the pooling layer alone, on --input (no convolution: --kernel, --stride "
        "and the other convolution flags are refused)",
    )
    group.add_argument(
        "--values",
        metavar="V",
        help="numbers for the first layer's input, comma-separated, row-major: X of the "
        "convolution with --pool (seed 001's A: 36 numbers for --input 6x6), the pooling "
        "input with --pool-only; they show which entry wins each window and the routed "
        "gradient grid",
    )
    group.add_argument(
        "--filter-values",
        metavar="V",
        help="numbers for the filter F with --pool (comma-separated, row-major); with "
        "--values, C = X ⊛ F is known and ∂L/∂C is routed by numbers",
    )


def parse_values(flag: str, text: str, shape: tuple[int, ...]) -> list[int | float]:
    """'5,6,7' (commas and/or spaces) -> numbers; the count must fill `shape`."""
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    numbers: list[int | float] = []
    for item in items:
        if re.fullmatch(r"[+-]?\d+", item):
            numbers.append(int(item))
            continue
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"{flag}: {item!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{flag}: {item!r} is not a finite number")
        numbers.append(value)
    expected = 1
    for n in shape:
        expected *= n
    if len(numbers) != expected:
        dims = "×".join(map(str, shape))
        raise ValueError(
            f"{flag} has {len(numbers)} numbers; expected {expected} for shape {dims} (row-major)"
        )
    return numbers


def parse_pool(text: str) -> tuple[str, object, object, object]:
    """'max:2', 'avg:3:2', 'max:2x2:1:1' -> (kind, kernel, stride or None, padding)."""
    parts = text.strip().split(":")
    if not 2 <= len(parts) <= 4 or not all(parts):
        raise ValueError(f"--pool={text!r} must look like max:2, avg:3:2 or max:2x2:1:1")
    kind = parts[0].strip().lower()
    if kind not in POOL_KINDS:
        raise ValueError(
            f"--pool={text!r}: kind {parts[0]!r} must be one of {', '.join(POOL_KINDS)}"
        )
    kernel = _per_dim_or_int("--pool window", parts[1])
    stride = _per_dim_or_int("--pool stride", parts[2]) if len(parts) > 2 else None
    padding = _per_dim_or_int("--pool padding", parts[3]) if len(parts) > 3 else 0
    return kind, kernel, stride, padding


def pool_from_args(args: argparse.Namespace, conv: ConvSpec | None) -> PoolSpec | None:
    """The pooling layer --pool describes: after `conv`, or alone on --input (--pool-only)."""
    if args.pool is None:
        for flag, value in (
            ("--pool-only", args.pool_only),
            ("--values", args.values),
            ("--filter-values", args.filter_values),
        ):
            if value:
                raise ValueError(f"{flag} needs --pool KIND:K (e.g. --pool max:2)")
        return None
    try:
        return _pool_spec(args, conv)
    except ValueError as error:
        if str(error).startswith("--"):
            raise
        raise ValueError(f"--pool={args.pool!r}: {error}") from None


def _pool_spec(args: argparse.Namespace, conv: ConvSpec | None) -> PoolSpec:
    kind, kernel, stride, padding = parse_pool(args.pool)
    if conv is not None:
        return PoolSpec(
            kind,
            conv.output_size,
            kernel,
            channels=conv.out_channels,
            batch=conv.batch,
            stride=stride,
            padding=padding,
            dtype=conv.dtype,
        )
    changed = [
        "--" + name.replace("_", "-")
        for name, default in CONV_ONLY_FLAGS.items()
        if getattr(args, name) != default
    ]
    if changed:
        raise ValueError(
            f"--pool-only derives no convolution, so {', '.join(changed)} cannot be used with it"
        )
    if args.filter_values:
        raise ValueError("--filter-values needs a convolution: drop --pool-only")
    rank_hint = len(kernel) if isinstance(kernel, tuple) else 1
    shape = _int_list("--input", args.input)
    rank = args.dims or (rank_hint if rank_hint > 1 else min(len(shape), 2))
    if not rank <= len(shape) <= rank + 2:
        raise ValueError(
            f"--input={args.input!r} has {len(shape)} entries; with {rank} spatial "
            f"dimension(s) it takes {rank} to {rank + 2} (N x C x spatial)"
        )
    leading = shape[: len(shape) - rank]
    return PoolSpec(
        kind,
        shape[len(shape) - rank :],
        kernel,
        channels=leading[-1] if leading else 1,
        batch=leading[0] if len(leading) == 2 else 1,
        stride=stride,
        padding=padding,
        dtype=args.dtype,
    )
