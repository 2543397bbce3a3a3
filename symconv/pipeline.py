"""The whole way from a layer to callable kernels, one stage per line.

    spec -> kind.index_level -> target.lower -> target.render -> write_if_changed -> load

Each stage lives in its own package (kinds and symbolic, lower, targets, runtime);
this module only calls them in order, so reading `generate` tells the whole story.
A spec is a convolution (`ConvSpec`) or a pooling layer (`PoolSpec`); its kind
(`symconv.kinds.kind_of`) says which formulas and kernels it has, so the same five
calls serve both.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import symconv.autotune as autotune
import symconv.targets as targets
from symconv.kinds import LayerSpec, kind_of, spec_from_json
from symconv.runtime import Kernels, load_module, module_path, write_if_changed

Progress = Callable[[str], None]
Out = str | os.PathLike | None
Schedules = dict[str, str] | None
TargetName = str | targets.Target | None


def _quiet(message: str) -> None:
    """The default progress callback: say nothing."""


def render(
    spec: LayerSpec,
    schedules: Schedules = None,
    target: TargetName = None,
    timings: dict[str, float] | None = None,
) -> str:
    """Source text of the kernel module of `spec` (derive, lower, render; nothing written).

    `schedules` forces an algorithm per kernel ({"forward": "direct"}, ...); the
    others follow the default choice of `symconv.lower.algorithms`.  `timings`, when
    given, gains the seconds of every stage and lowering pass.
    """
    chosen = targets.get(target)
    spec, schedules = lowered(spec, schedules)
    timings = {} if timings is None else timings
    clock = time.perf_counter()
    level = kind_of(spec).index_level(spec)
    timings["index formulas"] = time.perf_counter() - clock
    nests = chosen.lower(level, spec, schedules, chosen.machine, timings)
    clock = time.perf_counter()
    source = chosen.render(spec, nests)
    timings["render"] = time.perf_counter() - clock
    return source


def module_file(
    spec: LayerSpec, out: Out = None, schedules: Schedules = None, target: TargetName = None
) -> Path:
    """Where the module of `spec` goes: `out`, or the cache folder."""
    spec, schedules = lowered(spec, schedules)
    chosen = targets.get(target)
    name = "" if chosen is targets.DEFAULT else chosen.name
    return module_path(spec, chosen.digest(), out, schedules, name)


def write(
    spec: LayerSpec,
    out: Out = None,
    progress: Progress | None = None,
    schedules: Schedules = None,
    target: TargetName = None,
) -> Path:
    """Render the module of `spec` and store it in `out` (default: the cache folder)."""
    spec, schedules = lowered(spec, schedules)
    say = progress or _quiet
    say(f"{spec.label}: deriving, lowering and rendering the kernels")
    timings: dict[str, float] = {}
    source = render(spec, schedules, target, timings)
    say(f"{spec.label}: " + ", ".join(f"{name} {s * 1e3:.0f} ms" for name, s in timings.items()))
    path = module_file(spec, out, schedules, target)
    write_if_changed(path, source)
    say(f"{spec.label}: wrote {path}")
    return path


def load(path: str | os.PathLike, spec: LayerSpec, target: TargetName = None) -> Kernels:
    """Import the module at `path` (compiling, or loading Numba's cache) and wrap it."""
    chosen = targets.get(target)
    chosen.available()
    module_spec, _ = lowered(spec, None)
    module = load_module(path, kind_of(module_spec).kernel_names(module_spec))
    return kind_of(spec).adapt(spec, chosen.wrap(module_spec, module, Path(path)))


def lowered(spec: LayerSpec, schedules: Schedules) -> tuple[LayerSpec, Schedules]:
    """The spec whose module computes `spec`'s kernels, and the schedules named for it
    (the same, but for a kind computed by another kind's kernels: a transposed layer)."""
    kind = kind_of(spec)
    return kind.lowered_as(spec), kind.schedules_for(spec, schedules)


def generate(
    spec: LayerSpec,
    out: Out = None,
    progress: Progress | None = None,
    schedules: Schedules = None,
    target: TargetName = None,
    autotune: bool = False,
    autotune_seconds: float = autotune.SECONDS,
) -> Kernels:
    """Compiled, checked kernels for `spec`; the module file is reused while unchanged.

    A `ConvSpec` gives forward, grad_input, grad_weight (and grad_bias); a `PoolSpec`
    gives forward(x) and grad_input(gy, x).  `autotune` times every algorithm of every
    kernel on this machine and keeps the fastest (`symconv.autotune`), or reuses the
    choice recorded by an earlier run on this machine; it starts no candidate after
    `autotune_seconds` (the default choice is always among those timed).
    """
    say = progress or _quiet
    targets.get(target).available()  # a target that cannot run here fails before any writing
    layer = spec
    spec, schedules = lowered(spec, schedules)
    if autotune:
        if targets.get(target).launch is not None:
            raise ValueError(
                "autotune=True times the CPU's algorithms; the CUDA target has one per kernel "
                "(trying block shapes needs a real GPU, and is not done)"
            )
        if schedules:
            raise ValueError("autotune=True chooses the schedules: give one or the other")
        if not autotune_seconds > 0:
            raise ValueError(f"autotune_seconds={autotune_seconds!r}: expected a positive number")
        schedules = tuned_schedules(spec, out, say, target, autotune_seconds)
    path = write(spec, out, say, schedules, target)
    say(f"{spec.label}: compiling with Numba (or loading its cache)")
    return load(path, layer, target)


def tuned_schedules(
    spec: LayerSpec,
    out: Out,
    say: Progress,
    target: TargetName = None,
    budget: float = autotune.SECONDS,
) -> dict[str, str]:
    """The fastest algorithm per kernel on this machine: recorded, or measured now."""
    chosen = targets.get(target)
    record = autotune.record_path(module_file(spec, out, None, target), spec)
    machine = autotune.machine_fingerprint(chosen.digest())
    recorded = autotune.recorded_choice(record, machine)
    if recorded is not None:
        say(f"{spec.label}: autotuned choice from {record}")
        return recorded

    def build(schedules: dict[str, str]) -> Kernels:
        return load(write(spec, out, _quiet, schedules, target), spec, target)

    tuning = autotune.tune(spec, build, machine, say, budget)
    autotune.write_record(record, spec, tuning)
    say(f"{spec.label}: autotune chose " + ", ".join(f"{k} {v}" for k, v in tuning.choice.items()))
    return tuning.choice


def write_many(
    specs: dict[str, LayerSpec],
    out: Out = None,
    progress: Progress | None = None,
    target: TargetName = None,
) -> dict[str, Path]:
    """`write` for every named layer of a manifest, without compiling anything."""
    say = progress or _quiet
    return {
        name: write(spec, out, _prefixed(say, name), target=target) for name, spec in specs.items()
    }


def generate_many(
    specs: dict[str, LayerSpec],
    out: Out = None,
    progress: Progress | None = None,
    target: TargetName = None,
) -> dict[str, Kernels]:
    """`generate` for every named layer of a manifest."""
    say = progress or _quiet
    return {
        name: generate(spec, out, _prefixed(say, name), target=target)
        for name, spec in specs.items()
    }


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
    parser.add_argument(
        "--target", choices=targets.names(), default=None, help="the hardware (default: cpu)"
    )
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
        generate_many(specs, args.out, print, args.target)
    else:
        write_many(specs, args.out, print, args.target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
