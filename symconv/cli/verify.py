"""`symconv verify`: generate, run on random data, compare with the reference (and PyTorch)."""

from __future__ import annotations

import argparse

from symconv.cli.generate import prepare_out, progress
from symconv.cli.layers import add_layer_flags, layers_from_args
from symconv.verify import verify


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify",
        help="check the generated kernels against the NumPy reference (and PyTorch)",
        description="Generate the kernels, run them on random data and print the largest "
        "error of each against symconv.reference and PyTorch (when installed). Exit status "
        "1 when any kernel differs by more than its dtype's tolerance.",
    )
    add_layer_flags(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument(
        "--all-algorithms",
        action="store_true",
        help="check every algorithm and variant of every kernel (each Winograd tile and "
        "blocked tile, with threads and without), not only the default choice: one module "
        "per round, so this compiles for a minute or more",
    )
    parser.add_argument(
        "-o", "--out", metavar="DIR", help="folder for the modules (default: the cache folder)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    all_ok = True
    layers = layers_from_args(args)
    prepare_out(args.out)
    for name, spec in layers.items():
        report = verify(
            spec,
            seed=args.seed,
            torch=False if args.no_torch else None,
            out=args.out,
            progress=progress,
            algorithms="all" if args.all_algorithms else None,
        )
        print(f"== {name} ==")
        print(report.format())
        all_ok &= report.ok
    print("verdict: all kernels match" if all_ok else "verdict: MISMATCH")
    return 0 if all_ok else 1
