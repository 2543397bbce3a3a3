"""`symconv check MODULE:FUNCTION`: find the smallest layer where someone's convolution is wrong.

Exit status 0 when every case passes, 1 when something is wrong, 2 when the command
cannot run (a module that does not import, a function with the wrong signature).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from symconv.check import CONVENTIONS, check
from symconv.check.run import TIMEOUT


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check",
        help="find the smallest layer where your convolution is wrong",
        description="Run your forward (and gradient) functions on named awkward layers and on "
        "random ones, compare with symconv's reference, shrink the first failure to the "
        "smallest layer that shows it, and print the chain-rule equation of its worst element. "
        "MODULE is a dotted module name or a path to a .py file.",
    )
    parser.add_argument(
        "forward", nargs="?", metavar="MODULE:FUNCTION", help="your forward convolution"
    )
    parser.add_argument("--grad-input", metavar="MODULE:FUNCTION", help="your dL/dX")
    parser.add_argument("--grad-weight", metavar="MODULE:FUNCTION", help="your dL/dF")
    parser.add_argument(
        "--transposed",
        metavar="MODULE:FUNCTION",
        help="your transposed convolution, called as torch.nn.functional.conv_transposeNd "
        "(x, w, b, stride, padding, output_padding, groups, dilation) and checked as the dL/dX "
        "of the convolution it transposes (with --convention torch or torch-numpy)",
    )
    parser.add_argument(
        "--convention",
        choices=tuple(CONVENTIONS),
        default="torch",
        help="how a layer is passed: torch = torch.nn.functional.convNd's (x, w, b, stride, "
        "padding, dilation, groups) and torch.nn.grad.convNd_input/_weight's, with tensors; "
        "torch-numpy = the same with NumPy arrays; numpy = arrays by position, ConvSpec "
        "fields (stride, padding as (lo, hi) pairs, dilation, groups, mode, ...) by keyword "
        "(default: torch)",
    )
    parser.add_argument(
        "--ranks",
        default="1,2,3",
        metavar="R[,R...]",
        help="spatial ranks your functions take, e.g. 2 for conv2d (default: 1,2,3)",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=200,
        metavar="N",
        help="random layers to search after the named cases; 0 skips the search (default: 200)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random search")
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        metavar="S",
        help=f"seconds one call may take before it counts as hung (default: {TIMEOUT:g})",
    )
    parser.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="report format"
    )
    return parser


def parse_ranks(text: str) -> tuple[int, ...]:
    try:
        ranks = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"--ranks {text!r} must be ranks among 1, 2, 3 separated by commas"
        ) from None
    return ranks


def load_function(reference: str, flag: str) -> Any:
    """``pkg.module:name`` or ``path/to/file.py:name`` -> the function (one-line errors)."""
    module_name, colon, attribute = reference.rpartition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"{flag} {reference!r} must be MODULE:FUNCTION")
    try:
        module = _import(module_name)
    except ValueError:
        raise
    except Exception as error:  # the user's module may fail in any way on import
        raise ValueError(
            f"{flag}: cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from None
    function = module
    for part in attribute.split("."):
        if not hasattr(function, part):
            raise ValueError(f"{flag}: {module_name!r} has no attribute {attribute!r}")
        function = getattr(function, part)
    if not callable(function):
        raise ValueError(f"{flag}: {reference!r} is not callable")
    return function


def _import(name: str) -> Any:
    """A dotted module found from the current folder (as ``python -m`` and ``uvicorn
    main:app`` find it), or a .py file whose own folder is on the path for its imports."""
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"{name!r} is not a file")
        _on_path(path.resolve().parent)
        spec = importlib.util.spec_from_file_location(f"symconv_check_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{name!r} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    _on_path(Path.cwd())
    return importlib.import_module(name)


def _on_path(folder: Path) -> None:
    if str(folder) not in sys.path and not (folder == Path.cwd() and "" in sys.path):
        sys.path.insert(0, str(folder))


#: The convention a transposed function is called in, by the --convention given.
TRANSPOSED_CONVENTIONS = {"torch": "torch-transpose", "torch-numpy": "torch-transpose-numpy"}


def run(args: argparse.Namespace) -> int:
    if args.examples < 0:
        raise ValueError(f"--examples {args.examples} must be 0 or more")
    if not args.timeout > 0:
        raise ValueError(f"--timeout {args.timeout:g} must be a positive number of seconds")
    convention = args.convention
    references = {
        "forward": (args.forward, "MODULE:FUNCTION"),
        "grad_input": (args.grad_input, "--grad-input"),
        "grad_weight": (args.grad_weight, "--grad-weight"),
    }
    if args.transposed is not None:
        others = [flag for ref, flag in references.values() if ref]
        if others or convention not in TRANSPOSED_CONVENTIONS:
            why = f"{others[0]} was given too" if others else f"--convention {convention}"
            raise ValueError(
                f"--transposed checks one transposed convolution alone, with --convention "
                f"torch or torch-numpy ({why})"
            )
        references["grad_input"] = (args.transposed, "--transposed")
        convention = TRANSPOSED_CONVENTIONS[convention]
    functions = {k: ref and load_function(ref, flag) for k, (ref, flag) in references.items()}
    names = {k: ref for k, (ref, _) in references.items() if ref}
    progress = (
        (lambda message: print(f"… {message}", file=sys.stderr)) if sys.stderr.isatty() else None
    )
    report = check(
        **{k: v or None for k, v in functions.items()},
        convention=convention,
        ranks=parse_ranks(args.ranks),
        examples=args.examples,
        seed=args.seed,
        progress=progress,
        timeout=args.timeout,
        names=names,
    )
    print(report.format(args.format))
    return 0 if report.ok else 1
