"""The whole way from a layer to callable kernels, one stage per line.

    spec -> layer_formulas -> lower_all -> render_module -> write_module -> load

Each stage lives in its own package (symbolic, lower, codegen, runtime); this module
only calls them in order, so reading `generate` tells the whole story.  A spec is a
convolution (`ConvSpec`: `Kernels`) or a pooling layer (`PoolSpec`: `PoolKernels`);
every stage dispatches on its type, so the same functions serve both.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from symconv.codegen import render_module
from symconv.layers import LayerSpec, layer_formulas, spec_from_json
from symconv.lower import lower_all
from symconv.runtime import Kernels, PoolKernels, load, write_module

Progress = Callable[[str], None]
Out = str | os.PathLike | None
Schedules = dict[str, str] | None


def _quiet(message: str) -> None:
    """The default progress callback: say nothing."""


def render(spec: LayerSpec, schedules: Schedules = None) -> str:
    """Source text of the kernel module of `spec` (derive, lower, render; nothing written).

    `schedules` forces a loop schedule per kernel ({"forward": "direct"}, ...); the
    others follow `symconv.lower.lowering.default_schedule`.
    """
    formulas = layer_formulas(spec)
    nests = lower_all(formulas, spec, schedules)
    return render_module(spec, nests)


def write(
    spec: LayerSpec,
    out: Out = None,
    progress: Progress | None = None,
    schedules: Schedules = None,
) -> Path:
    """Render the module of `spec` and store it in `out` (default: the cache folder)."""
    say = progress or _quiet
    say(f"{spec.label}: deriving, lowering and rendering the kernels")
    path = write_module(spec, render(spec, schedules), out, schedules)
    say(f"{spec.label}: wrote {path}")
    return path


def generate(
    spec: LayerSpec,
    out: Out = None,
    progress: Progress | None = None,
    schedules: Schedules = None,
) -> Kernels | PoolKernels:
    """Compiled, checked kernels for `spec`; the module file is reused while unchanged.

    A `ConvSpec` gives `Kernels` (forward, grad_input, grad_weight, grad_bias), a
    `PoolSpec` gives `PoolKernels` (forward(x), grad_input(gy, x)).
    """
    say = progress or _quiet
    path = write(spec, out, say, schedules)
    say(f"{spec.label}: compiling with Numba (or loading its cache)")
    return load(path, spec)


def write_many(
    specs: dict[str, LayerSpec], out: Out = None, progress: Progress | None = None
) -> dict[str, Path]:
    """`write` for every named layer of a manifest, without compiling anything."""
    say = progress or _quiet
    return {name: write(spec, out, _prefixed(say, name)) for name, spec in specs.items()}


def generate_many(
    specs: dict[str, LayerSpec], out: Out = None, progress: Progress | None = None
) -> dict[str, Kernels | PoolKernels]:
    """`generate` for every named layer of a manifest."""
    say = progress or _quiet
    return {name: generate(spec, out, _prefixed(say, name)) for name, spec in specs.items()}


def _prefixed(say: Progress, name: str) -> Progress:
    return lambda message: say(f"[{name}] {message}")


def main(argv: list[str] | None = None) -> int:
    """``python -m symconv.pipeline SPEC_JSON [-o DIR]`` or ``--manifest FILE``.

    The command every generated module's header names to regenerate it; the
    user-facing CLI is ``symconv generate``.
    """
    parser = argparse.ArgumentParser(prog="python -m symconv.pipeline")
    parser.add_argument(
        "spec_json", nargs="?", help="a ConvSpec or PoolSpec (with a kind key) as JSON"
    )
    parser.add_argument("--manifest", help="a TOML manifest of named layers")
    parser.add_argument("-o", "--out", help="output folder (default: the cache folder)")
    parser.add_argument("--compile", action="store_true", help="also compile the kernels")
    args = parser.parse_args(argv)
    if (args.spec_json is None) == (args.manifest is None):
        parser.error("give either SPEC_JSON or --manifest")
    if args.manifest is not None:
        from symconv.manifest import load_manifest

        specs = load_manifest(args.manifest)
    else:
        try:
            specs = {"layer": spec_from_json(args.spec_json)}
        except (TypeError, ValueError) as error:
            parser.error(str(error))
    if args.compile:
        generate_many(specs, args.out, print)
    else:
        write_many(specs, args.out, print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
