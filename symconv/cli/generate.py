"""`symconv generate`: write (and compile) the kernel module of each layer."""

from __future__ import annotations

import argparse
import sys
import time

from symconv.cli.layers import add_layer_flags, layers_from_args
from symconv.pipeline import generate, write


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "generate",
        help="generate Numba kernels specialized for one layer or a manifest of layers",
        description="Render the kernels of each layer into one Python module (every size a "
        "literal) and compile it with Numba. Prints where each module went.",
    )
    add_layer_flags(parser)
    parser.add_argument(
        "-o", "--out", metavar="DIR", help="folder for the modules (default: the cache folder)"
    )
    parser.add_argument(
        "--no-compile", action="store_true", help="only write the modules; Numba compiles on import"
    )
    return parser


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    layers = layers_from_args(args)
    for number, (name, spec) in enumerate(layers.items(), 1):
        started = time.perf_counter()
        say = _prefixed(progress, f"{number}/{len(layers)} {name}")
        if args.no_compile:
            path = write(spec, args.out, say)
        else:
            path = generate(spec, args.out, say).path
        print(f"{name}: {path} ({time.perf_counter() - started:.1f} s)")
    return 0


def _prefixed(say, prefix: str):
    return lambda message: say(f"[{prefix}] {message}")
