"""The vector intrinsics compiled: FMAs in registers, the same answers on other CPUs, and a
new module name whenever the intrinsics change.

Each compile runs in a subprocess with an empty NUMBA_CACHE_DIR (a kernel loaded from
the cache cannot be inspected, and NUMBA_CPU_NAME / NUMBA_CPU_FEATURES must be set before
Numba starts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from symconv.kinds import ConvSpec
from symconv.pipeline import module_file, write
from symconv.targets.numba_cpu import vector_names
from tests.paths import ROOT

SPEC = ConvSpec((9, 11), 3, in_channels=5, out_channels=20, batch=4, stride=2, padding=1,
                bias=True)  # fmt: skip
#: Every intrinsic, between them: simd's tiles of channels (broadcasts, stores by rows,
#: lane-by-lane stores of dL/dF); positions' vectors along rows (a strided copy of X for
#: the forward, dL/dX by stride phases woven on the store, 6 + 5 inputs a row, and dL/dF
#: reading every other column of X in place, masked at the padding).
SCHEDULES = {
    "simd": {"forward": "simd@2", "grad_input": "simd@2", "grad_weight": "simd@2"},
    "positions": {k: "positions@2" for k in ("forward", "grad_input", "grad_weight")},
    "channel_blocked": {k: "channel_blocked@2" for k in ("forward", "grad_input", "grad_weight")},
}
#: channel_blocked's layer: depthwise, 20 channels (a vector of 16 and a partial one of 4),
#: copied into blocks and back by transposes in registers.
DEPTHWISE = ConvSpec((9, 11), 3, in_channels=20, out_channels=20, groups=20, batch=4, stride=2,
                     padding=1, bias=True)  # fmt: skip
LAYERS = {"simd": SPEC, "positions": SPEC, "channel_blocked": DEPTHWISE}
EACH_ALGORITHM = pytest.mark.parametrize("algorithm", list(SCHEDULES))
#: Features of an AVX2 CPU without AVX-512, and of one without FMA or AVX at all.
HASWELL = "+avx,+avx2,+fma,+sse4.2,+sse4.1,+ssse3,+sse3,+sse2,+sse,+popcnt,+cx16"
BASELINE = "+sse2,+sse"

PROGRAM = textwrap.dedent(
    """
    import json, re, sys
    import numpy as np
    from symconv.kinds import ConvSpec, kind_of, relative_error
    from symconv.pipeline import load

    spec = ConvSpec.from_json(sys.argv[2])
    kernels = load(sys.argv[1], spec)
    kind = kind_of(spec)
    arrays = kind.random_inputs(spec, np.random.default_rng(0))
    got, want = kind.run(spec, kernels, arrays), kind.reference(spec, arrays)
    errors = {name: relative_error(got[name], want[name])[1] for name in got}
    asm = "\\n".join(c._library.get_asm_str() for c in kernels.module._CALLBACKS)
    widths = ("zmm", "ymm", "xmm")
    fma = {width: len(re.findall(r"vfmadd\\w+\\s+%" + width, asm)) for width in widths}
    print(json.dumps({"errors": errors, "fma": fma, "gathers": asm.count("vgather"),
                      "fmaf": asm.count("fmaf"), "mulps": asm.count("mulps")}))
    """
)


def compile_elsewhere(
    tmp_path: Path, cpu: str | None, features: str | None, algorithm: str
) -> dict:
    spec = LAYERS[algorithm]
    path = write(spec, tmp_path / "modules", schedules=SCHEDULES[algorithm])
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / f"cache-{cpu or 'host'}")}
    for name, value in (("NUMBA_CPU_NAME", cpu), ("NUMBA_CPU_FEATURES", features)):
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(path), spec.to_json()],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


@pytest.mark.skipif("avx2" not in cpu_flags(), reason="the CPU has no AVX2 (or no /proc/cpuinfo)")
@EACH_ALGORITHM
def test_the_host_kernels_hold_vector_fmas_and_no_gathers(tmp_path, algorithm):
    found = compile_elsewhere(tmp_path, None, None, algorithm)
    assert max(found["errors"].values()) < 1e-4
    # simd's 20 output channels and channel_blocked's 20 depthwise channels fill 16-lane
    # vectors with AVX-512; positions' rows of 5 and 6 positions take 8-lane ones (ymm)
    wide = algorithm in ("simd", "channel_blocked")
    widths = ["zmm"] if "avx512f" in cpu_flags() and wide else ["zmm", "ymm"]
    assert sum(found["fma"][w] for w in widths) >= 20, found  # the tiles' FMAs are vectors
    assert found["gathers"] == 0 and found["fmaf"] == 0


@EACH_ALGORITHM
def test_the_same_module_on_an_avx2_cpu_and_on_one_without_fma(tmp_path, algorithm):
    """A module rendered for this CPU's vectors, compiled for others: LLVM splits the wide
    vectors into the registers there are, and fmuladd becomes multiply and add where the
    CPU has no FMA (llvm.fma would call the scalar fmaf)."""
    avx2 = compile_elsewhere(tmp_path, "haswell", HASWELL, algorithm)
    assert max(avx2["errors"].values()) < 1e-4, avx2
    assert avx2["fma"]["zmm"] == 0 and avx2["fma"]["ymm"] > 0
    plain = compile_elsewhere(tmp_path, "x86-64", BASELINE, algorithm)
    assert max(plain["errors"].values()) < 1e-4, plain
    assert sum(plain["fma"].values()) == 0 and plain["fmaf"] == 0 and plain["mulps"] > 0


def test_a_change_of_the_intrinsics_gives_modules_new_names(tmp_path, monkeypatch):
    """Numba keys its cache on the module file; a new intrinsics source must mean a new
    file, or code compiled with the old intrinsics would be loaded."""
    before = module_file(SPEC, schedules=SCHEDULES["simd"])
    changed = tmp_path / "intrinsics.py"
    changed.write_bytes(vector_names.INTRINSICS.read_bytes() + b"\n# changed\n")
    monkeypatch.setattr(vector_names, "INTRINSICS", changed)
    vector_names.digest.cache_clear()
    try:
        after = module_file(SPEC, schedules=SCHEDULES["simd"])
    finally:
        vector_names.digest.cache_clear()
    assert after.name != before.name


# ----- the shuffling intrinsics, compiled, against what they mean ---------------------------
def shuffling_kernel(prefix: str, lanes: int):
    """A compiled function calling each shuffling intrinsic of one vector type once:
    store_rows of lanes rows a lane apart (the in-register transpose) and of 3 rows 7 apart
    with a step of 2 (lane by lane), store_interleaved, and load_strided."""
    import numba

    from symconv.targets.numba_cpu import intrinsics

    load, rows, weave, strided, store = (
        getattr(intrinsics, f"{prefix}_{op}")
        for op in ("load", "store_rows", "store_interleaved", "load_strided", "store")
    )
    k = lanes
    square = ", ".join(f"load(a, {j * k})" for j in range(k))
    source = f"""
def kernel(a, out):
    rows(out, 0, ({square},), {k}, 1, {k - 3})
    rows(out, 300, (load(a, 0), load(a, {k}), load(a, {2 * k})), 7, 2, {k})
    weave(out, 500, (load(a, 0), load(a, {k})), {2 * k - 5})
    store(out, 600, strided(a, 3, 3, 1, {k - 2}), 1, {k})
"""
    scope = {"load": load, "rows": rows, "weave": weave, "strided": strided, "store": store}
    exec(source, scope)  # noqa: S102 - literal integers only, written here
    return numba.njit(scope["kernel"])


@pytest.mark.parametrize("dtype, lanes", [("float32", 16), ("float64", 8)])
def test_shuffling_intrinsics_compiled_match_their_meaning(dtype, lanes):
    import numpy as np

    kernel = shuffling_kernel(vector_names.prefix(dtype, lanes), lanes)
    k = lanes
    a = np.arange(k * k + 8, dtype=dtype) + 1
    out = np.zeros(700, dtype)
    kernel(a, out)
    want = np.zeros(700, dtype)
    vectors = [a[j * k : (j + 1) * k] for j in range(k)]
    for j, v in enumerate(vectors):  # out[l·stride + j·step] = v_j[l] for l < count
        want[np.arange(k - 3) * k + j] = v[: k - 3]
    for j, v in enumerate(vectors[:3]):
        want[300 + np.arange(k) * 7 + 2 * j] = v
    want[500 : 500 + 2 * k - 5] = np.stack(vectors[:2], axis=1).reshape(-1)[: 2 * k - 5]
    want[601 : 600 + k - 2] = a[3 + 3 : 3 + 3 * (k - 2) : 3]  # lanes 1 ≤ l < k − 2
    np.testing.assert_array_equal(out, want)
