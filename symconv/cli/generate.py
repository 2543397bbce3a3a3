"""`symconv generate`: write (and compile) the kernel module of each layer."""

from __future__ import annotations

import argparse
import math
import sys
import time

from tqdm import tqdm

import symconv.targets as targets
from symconv import autotune
from symconv.cli.layers import add_layer_flags, layers_from_args
from symconv.files import output_folder
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
        "-o",
        "--out",
        metavar="DIR",
        help="folder for the modules (default: the cache folder); only its last part is created",
    )
    parser.add_argument(
        "--no-compile", action="store_true", help="only write the modules; Numba compiles on import"
    )
    parser.add_argument(
        "--target",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu: Numba on this machine's cores (default); cuda: numba-cuda kernels for an "
        "NVIDIA GPU (pip install numba-cuda; NUMBA_ENABLE_CUDASIM=1 runs them on the simulator)",
    )
    parser.add_argument(
        "--autotune",
        action="store_true",
        help="time every algorithm of every kernel on this machine and keep the fastest; the "
        "choice is recorded beside the module and reused on this machine",
    )
    parser.add_argument(
        "--autotune-seconds",
        metavar="S",
        default=None,
        help="with --autotune: start no candidate after S seconds (default "
        f"{autotune.SECONDS:g}); the default choice is always timed, the rest is recorded "
        "as not tried",
    )
    return parser


def autotune_seconds(text: str | None) -> float:
    """The --autotune-seconds value: a positive, finite number of seconds."""
    if text is None:
        return autotune.SECONDS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"--autotune-seconds {text!r}: expected a positive number of seconds")
    return value


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare_out(out: str | None, say=progress) -> None:
    """Refuse an unusable -o before any work; create its last folder, and say so."""
    if out is None:
        return
    folder, created = output_folder(out)
    if created:
        say(f"created the folder {folder}")


def run(args: argparse.Namespace) -> int:
    if args.autotune and args.no_compile:
        raise ValueError("--autotune times compiled kernels: it cannot run with --no-compile")
    if args.autotune and args.target == "cuda":
        raise ValueError("--autotune chooses among the CPU's algorithms: it takes no --target cuda")
    if args.autotune_seconds is not None and not args.autotune:
        raise ValueError("--autotune-seconds limits --autotune: give --autotune too")
    seconds = autotune_seconds(args.autotune_seconds)
    layers = layers_from_args(args)
    if not args.no_compile:
        targets.get(args.target).available()  # nothing written for a target that cannot run
    prepare_out(args.out)
    bar = tqdm(total=len(layers), unit="layer", file=sys.stderr, disable=None, leave=False)
    for number, (name, spec) in enumerate(layers.items(), 1):
        started = time.perf_counter()
        bar.set_description(f"{name}")
        say = progress if bar.disable else bar.set_postfix_str
        say_layer = _prefixed(say, f"{number}/{len(layers)} {name}")
        if args.no_compile:
            path = write(spec, args.out, say_layer, target=args.target)
        else:
            kernels = generate(
                spec,
                args.out,
                say_layer,
                target=args.target,
                autotune=args.autotune,
                autotune_seconds=seconds,
            )
            path = kernels.path
            if args.autotune:
                chosen = ", ".join(f"{k} {a}" for k, a in kernels.algorithms.items())
                tqdm.write(f"{name}: autotuned: {chosen}", file=sys.stdout)
        bar.update()
        tqdm.write(f"{name}: {path} ({time.perf_counter() - started:.1f} s)", file=sys.stdout)
    bar.close()
    return 0


def _prefixed(say, prefix: str):
    return lambda message: say(f"[{prefix}] {message}")
