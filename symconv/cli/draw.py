"""`symconv draw`: the figures of one layer as SVG (still and animated), PNG and an index."""

from __future__ import annotations

import argparse
import re
import sys
import time

from symconv.cli.spec_args import (
    add_pool_flags,
    add_spec_flags,
    parse_values,
    pool_from_args,
    spec_from_args,
)
from symconv.draw import draw
from symconv.draw.drawing import INDEX, png_available, write_drawings

DEFAULT_FOLDER = "figures"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "draw",
        help="draw the lecture's figures for one layer: windows, gradients, pooling, tiles",
        description="Draw the figures of one layer from its derivation: the forward window, "
        "∂L/∂X (∂L/∂O dilated and padded, the rotated filter, stride phases), ∂L/∂F, channels "
        "and groups, tiles, Winograd's tiles, and with --pool the pooling windows and the "
        "routed gradient. Writes SVG (still and animated), PNG (with matplotlib) and "
        f"{INDEX} into a folder.",
    )
    add_spec_flags(parser)
    add_pool_flags(parser)
    group = parser.add_argument_group("output")
    group.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default=DEFAULT_FOLDER,
        help=f"folder to write into (default: {DEFAULT_FOLDER}; created if missing)",
    )
    group.add_argument("--zero-based", action="store_true", help="show indices from 0, not 1")
    group.add_argument(
        "--winograd", metavar="M", help="the output tile m of the Winograd figure (default 2)"
    )
    group.add_argument("--no-png", action="store_true", help="SVG only, even with matplotlib")
    return parser


def drawings_from_args(args: argparse.Namespace) -> list:
    """One drawing per layer the flags name: the convolution, the pooling, or both."""
    if args.filter_values:
        raise ValueError("--filter-values is for symconv derive; draw labels F by name")
    conv = None if args.pool_only else spec_from_args(args)
    pool = pool_from_args(args, conv)
    winograd = None
    if args.winograd is not None:
        if not re.fullmatch(r"[0-9]+", args.winograd.strip(), re.ASCII) or int(args.winograd) < 1:
            raise ValueError(
                f"--winograd={args.winograd!r} must be a positive integer (the output tile m)"
            )
        winograd = int(args.winograd)
    if args.values and conv is not None:
        raise ValueError("--values are the pooling input's numbers: give them with --pool-only")
    found = []
    if conv is not None:
        found.append(draw(conv, winograd=winograd, zero_based=args.zero_based))
    if pool is not None:
        values = parse_values("--values", args.values, pool.input_size) if args.values else None
        found.append(draw(pool, values=values))
    return found


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    drawings = drawings_from_args(args)
    written = write_drawings(drawings, args.output, png=None if not args.no_png else False)
    seconds = time.perf_counter() - started
    names = ", ".join(f.name for d in drawings for f in d.figures)
    png = "" if args.no_png or png_available() else " (no PNG: pip install matplotlib)"
    print(
        f"wrote {len(written)} files to {args.output}: {names}{png} ({seconds:.1f} s)",
        file=sys.stderr,
    )
    return 0
