"""`symconv bench`: time the generated kernels against PyTorch and NumPy, write a report.

The layers are the built-in suite (or its quick subset), a manifest's convolutions,
or the one layer the spec flags describe.  Every argument is checked before anything
is timed, so a typo costs no benchmark run.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from tqdm import tqdm

from symconv.benchmark.contenders import OPERATIONS
from symconv.benchmark.report import markdown_table, write_report
from symconv.benchmark.report import warnings as report_warnings
from symconv.benchmark.run import run_suite
from symconv.benchmark.suite import SUITE, quick_suite
from symconv.cli.layers import add_layer_flags, manifest_given
from symconv.cli.spec_args import given_spec_flags, spec_from_args
from symconv.files import output_folder, write_text_atomic
from symconv.kinds import CONVOLUTION, TRANSPOSED, ConvSpec, kind_of
from symconv.manifest import load_manifest

DTYPES = {"float32": ("float32",), "float64": ("float64",), "both": ("float32", "float64")}
DEFAULT_OUT = "bench-results"
FULL_BUDGET, QUICK_BUDGET = 1.0, 0.2
FULL_MIN_RUNS, QUICK_MIN_RUNS = 5, 3


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="time the generated kernels against PyTorch and NumPy; write bench.md/json/png",
        description="Time forward, grad_input and grad_weight of each layer (the built-in "
        "suite, --manifest's convolutions, or the layer of the spec flags) for symconv, "
        "PyTorch and the NumPy reference, at NUMBA_NUM_THREADS threads for both. Prints a "
        "Markdown table and writes bench.md, bench.json and bench.png. Any layer flag "
        "selects that one layer instead of the suite (unset flags as in derive).",
        conflict_handler="resolve",  # bench's --dtype (with "both") replaces the spec flag
    )
    add_layer_flags(parser)
    parser.add_argument(
        "--dtype",
        default=None,
        metavar="DTYPE",
        help="float32, float64 or both (default: both; float32 with --quick)",
    )
    parser.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        default=DEFAULT_OUT,
        help=f"folder for the report (default: ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"the quick suite, float32, {QUICK_BUDGET} s per timing, >= {QUICK_MIN_RUNS} runs",
    )
    parser.add_argument(
        "--layers", metavar="NAME,NAME", help="only these layers of the suite (or manifest)"
    )
    parser.add_argument(
        "--target",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu (default): Numba kernels against PyTorch's CPU convolution; cuda: the CUDA "
        "target's kernels against PyTorch on the GPU (needs a CUDA GPU; writes bench_cuda.md)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help=f"time spent timing each contender (default {FULL_BUDGET}, {QUICK_BUDGET} "
        "with --quick)",
    )
    return parser


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    dtypes = parse_dtypes(args.dtype, args.quick)
    budget = parse_budget(args.budget, args.quick)
    layers = layers_to_time(args, progress)
    if args.target == "cuda":
        return run_cuda(args, layers, dtypes, budget)
    folder, created = output_folder(args.out)  # an unusable -o fails before the run
    if created:
        progress(f"created the folder {folder}")
    cells = len(layers) * len(dtypes) * len(OPERATIONS)
    with tqdm(total=cells, unit="cell", file=sys.stderr, disable=None, leave=False) as bar:
        result = run_suite(
            layers,
            dtypes=dtypes,
            budget=budget,
            min_runs=QUICK_MIN_RUNS if args.quick else FULL_MIN_RUNS,
            progress=progress if bar.disable else bar.set_postfix_str,
            advance=bar.update,
        )
    for warning in report_warnings(result):
        print(f"symconv: warning: {warning}", file=sys.stderr)
    written = write_report(
        result, args.out, warn=lambda m: print(f"symconv: warning: {m}", file=sys.stderr)
    )
    print(markdown_table(result))
    for path in written.values():
        print(f"wrote {path}")
    return 0


def parse_dtypes(text: str | None, quick: bool) -> tuple[str, ...]:
    if text is None:
        return DTYPES["float32" if quick else "both"]
    if text not in DTYPES:
        raise ValueError(f"--dtype={text!r} must be one of {', '.join(DTYPES)}")
    return DTYPES[text]


def parse_budget(budget: float | None, quick: bool) -> float:
    if budget is None:
        return QUICK_BUDGET if quick else FULL_BUDGET
    if not math.isfinite(budget) or budget <= 0:
        raise ValueError(f"--budget={budget:g} must be a positive number of seconds")
    return budget


def run_cuda(
    args: argparse.Namespace, layers: dict[str, ConvSpec], dtypes: tuple[str, ...], budget: float
) -> int:
    """The GPU table: refused in one line without a GPU, before any folder is made."""
    from symconv.benchmark import gpu

    reason = gpu.gpu_missing()
    if reason is not None:
        raise ValueError(reason)
    folder, created = output_folder(args.out)
    if created:
        progress(f"created the folder {folder}")
    table = gpu.markdown(gpu.run_gpu(layers, dtypes, budget, progress))
    write_text_atomic(folder / "bench_cuda.md", table + "\n")
    print(table)
    return 0


def layers_to_time(
    args: argparse.Namespace, say: Callable[[str], None] = progress
) -> dict[str, ConvSpec]:
    """The suite, the quick suite, a manifest's convolutions or the flags' layer; --layers picks."""
    given = [flag for flag in given_spec_flags(args) if flag != "--dtype"]
    if manifest_given(args, ignored=("--dtype",)):
        layers: dict[str, ConvSpec] = {}
        for name, spec in load_manifest(args.manifest).items():
            if kind_of(spec) in (CONVOLUTION, TRANSPOSED):
                layers[name] = spec
            else:
                say(f"skipping {name}: pooling layers are not benchmarked")
        if not layers:
            raise ValueError(
                f"--manifest={args.manifest!r} has no convolution layers to benchmark "
                "(pooling layers are skipped)"
            )
    elif given:
        spec = spec_from_args(argparse.Namespace(**{**vars(args), "dtype": "float32"}))
        layers = {spec.label: spec}
    else:
        layers = quick_suite() if args.quick and args.layers is None else dict(SUITE)
    return layers if args.layers is None else _subset(layers, args.layers)


def _subset(layers: dict[str, ConvSpec], text: str) -> dict[str, ConvSpec]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ValueError(f"--layers={text!r} must be layer names separated by commas")
    for name in names:
        if name not in layers:
            raise ValueError(
                f"--layers={text!r}: unknown layer {name!r}; known: {', '.join(layers)}"
            )
    return {name: layers[name] for name in dict.fromkeys(names)}
