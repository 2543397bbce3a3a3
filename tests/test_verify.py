"""Tests for symconv.verify: the report, its tolerances, and that it catches wrong kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symconv import verify as verify_module
from symconv.kinds import ConvSpec, PoolSpec
from symconv.verify import TOLERANCES, Comparison, VerifyReport, compare, verify

LECTURE = ConvSpec((3, 3), 2)
TORCH_SKIP = "PyTorch not installed: skipping the comparison with torch.nn.functional.conv*d"


def test_tolerances_are_stated_per_dtype():
    assert TOLERANCES == {"float32": 1e-4, "float64": 1e-10}


def test_lecture_layer_verifies_against_the_reference():
    report = verify(LECTURE, torch=False)
    assert report.ok
    assert [(c.kernel, c.oracle) for c in report.comparisons] == [
        ("forward", "reference"),
        ("grad_input", "reference"),
        ("grad_weight", "reference"),
    ]
    assert all(c.tolerance == 1e-4 for c in report.comparisons)
    assert set(report.worst()) == {"forward", "grad_input", "grad_weight"}
    text = report.format()
    assert text.splitlines()[0] == f"verify {LECTURE.label} (float32, seed 0): OK"
    assert "PyTorch skipped" in text and "grad_weight" in text and "1e-04" in text


def test_awkward_layer_verifies_against_pytorch_too():
    pytest.importorskip("torch", reason=TORCH_SKIP)
    spec = ConvSpec(
        (4, 5, 3),
        (2, 3, 1),
        stride=(2, 1, 3),
        groups=2,
        in_channels=2,
        out_channels=4,
        bias=True,
        dtype="float64",
    )
    report = verify(spec, seed=3, torch=True)
    assert report.ok, report.format()
    oracles = {(c.kernel, c.oracle) for c in report.comparisons}
    kernels = ("forward", "grad_input", "grad_weight", "grad_bias")
    assert oracles == {(k, o) for k in kernels for o in ("reference", "torch")}
    assert max(report.worst().values()) <= 1e-10


def test_torch_true_without_torch_is_an_import_error(monkeypatch):
    monkeypatch.setattr(verify_module, "_torch_available", lambda: False)
    with pytest.raises(ImportError, match="needs PyTorch"):
        verify(LECTURE, torch=True)
    assert "PyTorch not installed" in verify(LECTURE).format()


def test_compare_measures_error_relative_to_the_largest_oracle_value():
    want = np.array([10.0, -2.0, 0.0])
    c = compare("forward", "reference", want + [0.0, 0.001, 0.0], want, 1e-4)
    assert c.max_abs == pytest.approx(0.001) and c.max_rel == pytest.approx(1e-4)
    assert c.ok
    assert not compare("forward", "reference", want + [0.0, 0.01, 0.0], want, 1e-4).ok


@pytest.mark.parametrize(
    "got,want,ok",
    [
        (np.zeros(3), np.zeros(3), True),  # an all-zero gradient, computed exactly
        (np.array([0.0, 1e-3, 0.0]), np.zeros(3), False),
        (np.array([np.nan, 0.0, 0.0]), np.ones(3), False),
        (np.zeros(2), np.zeros(3), False),
    ],
)
def test_compare_edge_cases(got, want, ok):
    assert compare("grad_input", "reference", got, want, 1e-4).ok == ok


def test_a_wrong_kernel_makes_the_report_fail():
    good = Comparison("forward", "reference", 0.0, 0.0, 1e-4)
    bad = Comparison("grad_input", "reference", 1.0, 0.5, 1e-4)
    report = VerifyReport(LECTURE, 0, verify(LECTURE, torch=False).path, (good, bad), "x")
    assert not report.ok
    assert "FAILED" in report.format().splitlines()[0]
    assert report.format().splitlines()[-1].endswith("NO")


# ----- pooling ----------------------------------------------------------------------------
LENET_POOL = PoolSpec("max", (24, 24), 2, channels=6)  # also compiled by the pipeline tests


def test_max_pool_verifies_against_the_reference_and_pytorch_with_ties():
    pytest.importorskip("torch", reason=TORCH_SKIP)
    report = verify(LENET_POOL, seed=2, torch=True)
    assert report.ok, report.format()
    assert [(c.kernel, c.oracle) for c in report.comparisons] == [
        ("forward", "reference"),
        ("forward", "torch"),
        ("grad_input", "reference"),
        ("grad_input", "torch"),
    ]
    assert report.format().splitlines()[0] == f"verify {LENET_POOL.label} (float32, seed 2): OK"
    assert "max pooling" in report.format()


def test_max_pool_inputs_are_small_integers_so_windows_tie():
    x = verify_module.random_inputs(LENET_POOL, seed=0)["x"]
    windows = x.reshape(1, 6, 12, 2, 12, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4)
    tied = (windows == windows.max(axis=1, keepdims=True)).sum(axis=1) > 1
    assert set(np.unique(x)) <= set(range(-3, 4)) and tied.mean() > 0.2


def test_average_pool_with_a_pytorch_refused_shape_still_compares():
    """avg_pool3d refuses an input smaller than the kernel; verify pads the zeros itself."""
    pytest.importorskip("torch", reason=TORCH_SKIP)
    spec = PoolSpec(
        "avg", (1, 3, 2), (2, 2, 1), stride=(1, 2, 1), padding=(1, 1, 0), dtype="float64"
    )
    report = verify(spec, seed=1, torch=True)
    assert report.ok, report.format()
    assert max(report.worst().values()) <= 1e-10


# ----- every algorithm and variant -----------------------------------------------------------
TILED = ConvSpec((4, 4), 2, tiles=2)  # only `direct` lowers a tiled layer: two schedules each


def test_all_algorithms_checks_every_variant_with_and_without_threads():
    assert verify_module.every_variant(TILED, threads=4) == {
        k: ("direct@1", "direct@4") for k in ("forward", "grad_input", "grad_weight")
    }
    report = verify(TILED, torch=False, algorithms="all")
    assert report.ok, report.format()
    cells = {(c.kernel, c.schedule) for c in report.comparisons}
    threads = verify_module.every_variant(TILED)["forward"][1]
    assert cells == {(k, s) for k in ("forward", "grad_input", "grad_weight")
                     for s in ("direct@1", threads)}  # fmt: skip
    lines = report.format().splitlines()
    assert lines[0] == f"verify {TILED.label} (float32, seed 0), every algorithm and variant: OK"
    assert "6 (kernel, variant) cells" in lines[2]
    assert lines[5].split() == ["kernel", "variant", "reference", "ok"]
    assert [line.split()[:2] for line in lines[6:]] == [
        [k, s] for k in ("forward", "grad_input", "grad_weight") for s in ("direct@1", threads)
    ]


def test_all_algorithms_covers_winograd_tiles_and_blocked_tiles():
    spec = ConvSpec((6, 6), 3, in_channels=2, out_channels=2)
    found = verify_module.every_variant(spec, threads=2)
    assert [s for s in found["forward"] if s.startswith("winograd")] == [
        f"winograd:{m}@{t}" for m in range(1, 7) for t in (1, 2)
    ]  # float32: tiles of at most 8 points, F(6, 3)
    assert {"blocked:2x2@1", "blocked:1x1@2"} <= set(found["grad_weight"])
    wide = verify_module.every_variant(ConvSpec((6, 6), 3, dtype="float64"), threads=2)
    assert "winograd:9@2" in wide["forward"]


def test_a_variant_that_fails_to_build_is_a_failed_row_not_the_end(monkeypatch):
    monkeypatch.setattr(
        verify_module,
        "every_variant",
        lambda spec: {"forward": ("direct@1", "rows@1"), "grad_input": ("direct@1",),
                      "grad_weight": ("direct@1",)},
    )  # fmt: skip
    real = verify_module.generate

    def generate(spec, out=None, progress=None, schedules=None):
        if schedules["forward"] == "rows@1":
            raise RuntimeError("Failed in nopython mode pipeline\nmore")
        return real(spec, out, progress, schedules)

    monkeypatch.setattr(verify_module, "generate", generate)
    report = verify(LECTURE, torch=False, algorithms="all")
    assert not report.ok
    rows = {(c.kernel, c.schedule): c for c in report.comparisons}
    assert set(rows) == {("forward", "direct@1"), ("forward", "rows@1"),
                         ("grad_input", "direct@1"), ("grad_weight", "direct@1")}  # fmt: skip
    assert rows[("forward", "rows@1")].error == (
        "did not build: RuntimeError: Failed in nopython mode pipeline"
    )
    text = report.format()
    assert "FAILED (1 of 4 variants)" in text.splitlines()[0]
    assert "  forward      rows@1   NO: did not build: RuntimeError" in text


def test_the_variant_column_fits_the_longest_name():
    from symconv.verify import Comparison, VerifyReport

    long_name = "positions:1x1x1@2"
    cells = [
        Comparison("forward", "reference", 1e-8, 1e-8, 1e-4, schedule=name)
        for name in ("direct@1", long_name)
    ]
    report = VerifyReport(LECTURE, 0, Path("m.py"), tuple(cells), "PyTorch not compared")
    lines = report.format().splitlines()
    header = next(line for line in lines if line.lstrip().startswith("kernel"))
    row = next(line for line in lines if long_name in line)
    # the error column starts after the longest name, in the header and in every row
    assert header.index("reference") + len("reference") == row.index("1.00e-08") + 8


def test_algorithms_must_be_none_or_all():
    with pytest.raises(ValueError, match="algorithms='some': expected None or 'all'"):
        verify(LECTURE, algorithms="some")
