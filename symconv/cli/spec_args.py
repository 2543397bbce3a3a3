"""Command-line flags that name one layer, with PyTorch's parameter names.

The flags are parsed into plain ints and strings here and handed to `ConvSpec`,
which does all validation of the layer itself.  What is wrong with the text of a flag
is said here, quoting the flag as it was typed: sizes are ASCII digits, dimensions
are joined by ``x`` (either case) or commas, a per-dimension flag holds one value
(broadcast) or one per spatial dimension, and padding may also be ``lo:hi`` pairs,
``same`` or ``valid``.  Every error is one `ValueError` line.
"""

from __future__ import annotations

import argparse
import math
import re

from symconv.formatting import plural
from symconv.kinds import ConvSpec, ConvTransposeSpec, PoolSpec
from symconv.kinds.convolution import MODES
from symconv.kinds.pooling import POOL_KINDS

LECTURE_INPUT = "3x3"
LECTURE_KERNEL = "2"

#: Every spec flag (dest) and the value it takes when not given: the lecture example.
SPEC_DEFAULTS: dict[str, object] = {
    "input": LECTURE_INPUT,
    "kernel": LECTURE_KERNEL,
    "dims": None,
    "out_channels": "1",
    "stride": "1",
    "padding": "0",
    "dilation": "1",
    "groups": "1",
    "tiles": "1",
    "bias": False,
    "mode": "cross-correlation",
    "dtype": "float32",
    "transposed": False,
    "output_padding": "0",
}
PADDING_WORDS = ("same", "valid")
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_SEPARATORS = re.compile(r"[xX×,]")


def add_spec_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of `symconv derive`, shared by every command that takes one layer.

    They default to None ("not given"); `spec_from_args` fills in the lecture example,
    and `given_spec_flags` tells which were typed.
    """
    group = parser.add_argument_group(
        "layer (defaults: the lecture example, 3×3 input, 2×2 kernel)"
    )
    group.add_argument(
        "--input",
        metavar="SHAPE",
        help="W, HxW, CxHxW or NxCxHxW (with --dims 3: DxHxW, CxDxHxW, NxCxDxHxW)",
    )
    group.add_argument("--kernel", metavar="K", help="3 (every dimension), 3x3 or 3x3x3; default 2")
    group.add_argument(
        "--dims",
        type=int,
        choices=(1, 2, 3),
        help="spatial dimensions (default: from --kernel, else 1 for W, 2 otherwise)",
    )
    group.add_argument("--out-channels", metavar="C_OUT")
    group.add_argument("--stride", metavar="S", help="2 or 2,1 (per dimension)")
    group.add_argument(
        "--padding", metavar="P", help="1, 1,2, 0:1 or 0:1,1:0 (lo:hi per dimension), same or valid"
    )
    group.add_argument("--dilation", metavar="D", help="2 or 2,1")
    group.add_argument("--groups", metavar="G")
    group.add_argument(
        "--tiles",
        metavar="T",
        help="tiled convolution: output j uses filter j mod T (2, 2x1, per dimension); "
        "'local' gives every output position its own filter (locally connected)",
    )
    group.add_argument(
        "--bias", action="store_true", default=None, help="add a bias per output channel"
    )
    group.add_argument("--mode", choices=MODES)
    group.add_argument("--dtype", choices=("float32", "float64"))
    group.add_argument(
        "--transposed",
        action="store_true",
        default=None,
        help="a transposed convolution (PyTorch's ConvTransposeNd): the layer whose forward is "
        "this convolution's dL/dX; --padding is then one int per dimension",
    )
    group.add_argument(
        "--output-padding",
        metavar="A",
        help="with --transposed: rows added at the far end of the output (PyTorch's "
        "output_padding, below the stride or the dilation)",
    )


def given_spec_flags(args: argparse.Namespace) -> list[str]:
    """The spec flags the user typed, as ``--name``."""
    return [
        "--" + dest.replace("_", "-")
        for dest in SPEC_DEFAULTS
        if getattr(args, dest, None) is not None
    ]


def _value(args: argparse.Namespace, dest: str) -> object:
    given = getattr(args, dest, None)
    return SPEC_DEFAULTS[dest] if given is None else given


# ----- the text of one flag ---------------------------------------------------------------
def _input_and_kernel(
    args: argparse.Namespace,
) -> tuple[tuple[int, ...], tuple[int, ...], int, int, int]:
    """(input sizes, kernel sizes, spatial rank, batch, input channels) from --input,
    --kernel and --dims: the part every layer's flags share."""
    input_text, kernel_text = str(_value(args, "input")), str(_value(args, "kernel"))
    kernel = _ints("--kernel", kernel_text, minimum=1)
    shape = _ints("--input", input_text, minimum=1)
    dims = _value(args, "dims")
    rank = dims or (len(kernel) if len(kernel) > 1 else min(len(shape), 2))
    batch, in_channels = _layout("--input", input_text, shape, rank)
    if len(kernel) not in (1, rank):
        raise ValueError(
            f"--kernel={kernel_text!r} has {len(kernel)} sizes for "
            f"{plural(rank, 'spatial dimension')}"
        )
    return shape, kernel, rank, batch, in_channels


def _int(flag: str, whole: str, part: str | None = None, minimum: int | None = None) -> int:
    """One ASCII integer of `flag`; errors quote the whole value as typed."""
    text = whole if part is None else part
    if not _INTEGER.fullmatch(text.strip()):
        raise ValueError(f"{flag}={whole!r} must be an integer (ASCII digits)")
    value = int(text)
    if minimum is not None and value < minimum:
        word = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"{flag}={whole!r}: every value must be {word}, not {value}")
    return value


def _ints(flag: str, text: str, minimum: int | None = None) -> tuple[int, ...]:
    """'3', '3x3', '3X3', '3,3' -> ints (a single value stays a 1-tuple to broadcast)."""
    parts = _SEPARATORS.split(text.strip())
    if not all(p.strip() for p in parts):
        raise ValueError(f"{flag}={text!r} must look like 3, 3x3 or 2,1")
    return tuple(_int(flag, text, p, minimum) for p in parts)


def _per_dim(flag: str, text: str, rank: int, minimum: int = 1) -> tuple[int, ...]:
    """One value (broadcast) or one per spatial dimension."""
    values = _ints(flag, text, minimum)
    if len(values) not in (1, rank):
        if rank == 1:
            raise ValueError(
                f"{flag}={text!r} has {len(values)} values, but the layer is 1-D: give one value"
            )
        raise ValueError(
            f"{flag}={text!r} has {len(values)} values; give 1 (every dimension) or {rank} "
            f"(one per spatial dimension of this {rank}-D layer)"
        )
    return values * rank if len(values) == 1 else values


def parse_padding(text: str, rank: int) -> object:
    """'same', 'valid', '1', '1,2', '0:1' (broadcast), '0:1,1:0' -> what ConvSpec accepts."""
    stripped = text.strip()
    if stripped in PADDING_WORDS:
        return stripped
    forms = "an int, one per dimension (1,2), lo:hi pairs (0:1 or 0:1,1:0), same or valid"
    if re.fullmatch(r"[A-Za-z]+", stripped):
        raise ValueError(f"--padding={text!r} must be {forms}")
    if ":" not in stripped:
        return _per_dim("--padding", text, rank, minimum=0)
    pairs = []
    for item in stripped.split(","):
        lo_hi = item.split(":")
        if len(lo_hi) != 2:
            raise ValueError(f"--padding={text!r}: {item.strip()!r} must be lo:hi, e.g. 0:1")
        pairs.append(tuple(_int("--padding", text, part, minimum=0) for part in lo_hi))
    if len(pairs) not in (1, rank):
        raise ValueError(
            f"--padding={text!r} has {len(pairs)} lo:hi pairs; give 1 (every dimension) "
            f"or {rank} (one per spatial dimension)"
        )
    return tuple(pairs) * rank if len(pairs) == 1 else tuple(pairs)


def parse_tiles(text: str, rank: int) -> object:
    """'local', '2' (every dimension) or '2x1' (one per dimension) -> what ConvSpec accepts."""
    if text.strip() == "local":
        return "local"
    if re.fullmatch(r"[A-Za-z]+", text.strip()):
        raise ValueError(
            f"--tiles={text!r} must be a positive integer, one per dimension, or local"
        )
    return _per_dim("--tiles", text, rank)


def _layout(flag: str, text: str, shape: tuple[int, ...], rank: int) -> tuple[int, int]:
    """(batch, channels) from the leading entries of --input (N x C x spatial)."""
    if len(shape) < rank:
        raise ValueError(
            f"{flag}={text!r} has {len(shape)} entries, fewer than the {rank} spatial "
            "dimensions of the layer (from --kernel or --dims)"
        )
    if len(shape) > rank + 2:
        raise ValueError(
            f"{flag}={text!r} has {len(shape)} entries; with "
            f"{plural(rank, 'spatial dimension')} it takes at most {rank + 2} (N x C x spatial)"
        )
    leading = shape[: len(shape) - rank]
    return (leading[0] if len(leading) == 2 else 1), (leading[-1] if leading else 1)


def spec_from_args(args: argparse.Namespace) -> ConvSpec | ConvTransposeSpec:
    """Build the validated ConvSpec (ConvTransposeSpec with --transposed) that the flags
    describe (unset flags: the lecture's)."""
    if _value(args, "transposed"):
        return transposed_from_args(args)
    if getattr(args, "output_padding", None) is not None:
        raise ValueError("--output-padding needs --transposed (it is a transposed layer's)")
    shape, kernel, rank, batch, in_channels = _input_and_kernel(args)
    return ConvSpec(
        input_size=shape[len(shape) - rank :],
        kernel_size=kernel * rank if len(kernel) == 1 else kernel,
        in_channels=in_channels,
        out_channels=_int("--out-channels", str(_value(args, "out_channels"))),
        batch=batch,
        stride=_per_dim("--stride", str(_value(args, "stride")), rank, minimum=-(2**63)),
        padding=parse_padding(str(_value(args, "padding")), rank),
        dilation=_per_dim("--dilation", str(_value(args, "dilation")), rank, minimum=-(2**63)),
        groups=_int("--groups", str(_value(args, "groups"))),
        tiles=parse_tiles(str(_value(args, "tiles")), rank),
        bias=bool(_value(args, "bias")),
        dtype=str(_value(args, "dtype")),
        mode=str(_value(args, "mode")),
    )


def transposed_from_args(args: argparse.Namespace) -> ConvTransposeSpec:
    """The ConvTransposeSpec the flags describe; a flag it has no meaning for is refused."""
    refused = {
        "tiles": "a transposed layer shares one filter across every position",
        "mode": "a transposed layer is PyTorch's conv_transposeNd, with no mode to choose",
    }
    for dest, why in refused.items():
        if getattr(args, dest, None) is not None:
            raise ValueError(f"--{dest} is not for --transposed: {why}")
    shape, kernel, rank, batch, in_channels = _input_and_kernel(args)
    padding_text = str(_value(args, "padding"))
    if ":" in padding_text or padding_text.strip() in PADDING_WORDS:
        raise ValueError(
            f"--padding={padding_text!r}: a transposed layer's padding is one int per dimension "
            "(PyTorch's ConvTranspose pads both ends alike)"
        )
    return ConvTransposeSpec(
        input_size=shape[len(shape) - rank :],
        kernel_size=kernel * rank if len(kernel) == 1 else kernel,
        in_channels=in_channels,
        out_channels=_int("--out-channels", str(_value(args, "out_channels"))),
        batch=batch,
        stride=_per_dim("--stride", str(_value(args, "stride")), rank, minimum=-(2**63)),
        padding=_per_dim("--padding", padding_text, rank, minimum=0),
        output_padding=_per_dim(
            "--output-padding", str(_value(args, "output_padding")), rank, minimum=0
        ),
        dilation=_per_dim("--dilation", str(_value(args, "dilation")), rank, minimum=-(2**63)),
        groups=_int("--groups", str(_value(args, "groups"))),
        bias=bool(_value(args, "bias")),
        dtype=str(_value(args, "dtype")),
    )


# ----- pooling and the user's numbers (symconv derive) ------------------------------------------
#: Convolution flags: --pool-only derives no convolution, so a given one would be silently
#: ignored; it is refused instead.
CONV_ONLY_FLAGS = (
    "kernel", "out_channels", "stride", "padding", "dilation", "groups", "tiles", "bias",
)  # fmt: skip


def add_pool_flags(parser: argparse.ArgumentParser) -> None:
    """--pool, --pool-only, --values, --filter-values (a convolution, then max pooling)."""
    group = parser.add_argument_group("pooling and numbers (a convolution, then pooling)")
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
        "convolution with --pool (36 numbers for --input 6x6), the pooling input with "
        "--pool-only; they show which entry wins each window and the routed gradient grid",
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
        if _INTEGER.fullmatch(item):
            numbers.append(int(item))
            continue
        if not re.fullmatch(r"[0-9eE.+-]+", item, re.ASCII):
            raise ValueError(f"{flag}: {item!r} is not a number")
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"{flag}: {item!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{flag}: {item!r} is not a finite number")
        numbers.append(value)
    expected = math.prod(shape)
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

    def values(part: str, minimum: int) -> int | tuple[int, ...]:
        found = _ints("--pool", part, minimum)
        return found[0] if len(found) == 1 else found

    kernel = values(parts[1], 1)
    stride = values(parts[2], 1) if len(parts) > 2 else None
    padding = values(parts[3], 0) if len(parts) > 3 else 0
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
    dtype = str(_value(args, "dtype"))
    if conv is not None:
        return PoolSpec(
            kind,
            conv.output_size,
            kernel,
            channels=conv.out_channels,
            batch=conv.batch,
            stride=stride,
            padding=padding,
            dtype=dtype,
        )
    changed = [
        "--" + name.replace("_", "-")
        for name in (*CONV_ONLY_FLAGS, "mode")
        if getattr(args, name, None) is not None
    ]
    if changed:
        raise ValueError(
            f"--pool-only derives no convolution, so {', '.join(changed)} cannot be used with it"
        )
    if args.filter_values:
        raise ValueError("--filter-values needs a convolution: drop --pool-only")
    rank_hint = len(kernel) if isinstance(kernel, tuple) else 1
    input_text = str(_value(args, "input"))
    shape = _ints("--input", input_text, minimum=1)
    rank = _value(args, "dims") or (rank_hint if rank_hint > 1 else min(len(shape), 2))
    batch, channels = _layout("--input", input_text, shape, rank)
    return PoolSpec(
        kind,
        shape[len(shape) - rank :],
        kernel,
        channels=channels,
        batch=batch,
        stride=stride,
        padding=padding,
        dtype=dtype,
    )
