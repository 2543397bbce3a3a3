"""`symconv derive`: print the derivation of one layer as text, Markdown or LaTeX."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from symconv.cli.spec_args import (
    add_pool_flags,
    add_spec_flags,
    parse_values,
    pool_from_args,
    spec_from_args,
)
from symconv.draw.drawing import drawings_of, pictures, refused_layers
from symconv.files import resolve_output, write_text_atomic
from symconv.render import FORMATS
from symconv.render import render as render_derivation
from symconv.render.outline import Picture
from symconv.render.pdf import INSTALL_HINT, compile_pdf, pdflatex_available
from symconv.symbolic.derive import derive
from symconv.symbolic.winograd import refusal, winograd


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "derive",
        help="derive and print the equations, gradients and patterns of one layer",
        description="Derive O = X ⊛ F, dL/dX, dL/dF and dL/db for one layer by the chain "
        "rule, and prove the rotation and dilation patterns. With --pool, the convolution is "
        "followed by max or average pooling and the gradient is carried through both layers "
        "(seed 001: symconv derive --input 6x6 --kernel 3 --pool max:2 --values 5,6,7,...).",
    )
    add_spec_flags(parser)
    add_pool_flags(parser)
    add_output_flags(parser)
    return parser


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--format", choices=FORMATS, default="text")
    group.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    group.add_argument(
        "--pdf",
        action="store_true",
        help="also compile the LaTeX to a PDF (FILE.pdf, or derivation.pdf)",
    )
    group.add_argument("--zero-based", action="store_true", help="show indices from 0, not 1")
    group.add_argument(
        "--winograd",
        metavar="M",
        help="also derive Winograd's F(M, r) for this layer (stride 1): the transforms, their "
        "proof, the tiling, and the cost and float32 error of every F(m, r) worth considering",
    )


def pdf_target(args: argparse.Namespace) -> Path:
    """Where --pdf writes: FILE.pdf beside -o FILE, else derivation.pdf here."""
    return Path(args.output).with_suffix(".pdf") if args.output else Path("derivation.pdf")


def parse_winograd(text: str, conv, pool) -> int:
    """--winograd M: a positive tile size, for one stride-1 convolution (checked here, early)."""
    if not re.fullmatch(r"[0-9]+", text.strip(), re.ASCII) or int(text) < 1:
        raise ValueError(f"--winograd={text!r} must be a positive integer (the output tile m)")
    if conv is None or pool is not None:
        raise ValueError("--winograd needs one convolution layer (no --pool)")
    reason = refusal(conv)
    if reason is not None:
        raise ValueError(f"--winograd: {reason}")
    winograd(int(text), max(conv.kernel_size))  # an impossible tile fails here, not later
    return int(text)


def derivation_from_args(args: argparse.Namespace):
    """The derivation the flags ask for: one convolution, pooling alone, or both in a chain.

    Every flag is checked before anything is derived or written.
    """
    conv = None if args.pool_only else spec_from_args(args)
    pool = pool_from_args(args, conv)
    winograd = None
    if args.winograd is not None:
        winograd = parse_winograd(args.winograd, conv, pool)
    if pool is None:
        return lambda: derive(conv, winograd=winograd)
    if conv is None:
        values = parse_values("--values", args.values, pool.input_shape) if args.values else None
        return lambda: derive(pool, values=values)
    values = parse_values("--values", args.values, conv.input_shape) if args.values else None
    weights = (
        parse_values("--filter-values", args.filter_values, conv.weight_shape)
        if args.filter_values
        else None
    )
    return lambda: derive(conv, pool=pool, values=values, filter_values=weights)


def figures_for(derivation, fmt: str, zero_based: bool) -> tuple:
    """The figures every format shows: inline SVG in HTML, TikZ in LaTeX, text grids in
    text and Markdown (`symconv draw` writes them as SVG and PNG files)."""
    found = pictures(drawings_of(derivation, zero_based), fmt)
    notes = tuple(Picture("none drawn", reason) for reason in refused_layers(derivation))
    return found + notes


def run(args: argparse.Namespace) -> int:
    make = derivation_from_args(args)
    if args.output is not None:
        resolve_output(args.output)  # an unusable -o fails before any work
    if args.pdf and not pdflatex_available():
        raise ValueError(f"--pdf needs pdflatex, which is not installed ({INSTALL_HINT})")
    if args.pdf:
        resolve_output(pdf_target(args))
    derivation = make()
    # -o x.pdf with --pdf names the PDF itself: no text is written there first
    pdf_only = args.pdf and args.output is not None and Path(args.output).suffix == ".pdf"
    if not pdf_only:
        text = render_derivation(
            derivation, args.format, zero_based=args.zero_based,
            pictures=figures_for(derivation, args.format, args.zero_based),
        )  # fmt: skip
        if args.output is not None:
            print(f"wrote {write_text_atomic(args.output, text)}", file=sys.stderr)
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if args.pdf:
        latex = render_derivation(
            derivation, "latex", zero_based=args.zero_based,
            pictures=figures_for(derivation, "latex", args.zero_based),
        )  # fmt: skip
        print(f"wrote {compile_pdf(latex, pdf_target(args))}", file=sys.stderr)
    return 0 if derivation.all_patterns_hold else 1
