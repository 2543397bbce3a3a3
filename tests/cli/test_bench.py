"""`symconv bench`: layer selection, one-line errors, and one tiny end-to-end run."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from symconv.benchmark.suite import SUITE, quick_suite
from symconv.cli import build_parser, main
from symconv.cli.bench import layers_to_time
from symconv.kinds import ConvSpec


def layers(*argv: str) -> dict[str, ConvSpec]:
    return layers_to_time(build_parser().parse_args(["bench", *argv]), say=lambda m: None)


def test_layer_selection():
    assert layers() == SUITE
    assert layers("--quick") == quick_suite()
    assert list(layers("--layers", "digits, lecture,digits")) == ["digits", "lecture"]
    assert list(layers("--quick", "--layers", "resnet_64")) == ["resnet_64"]


def test_spec_flags_select_one_layer_even_at_their_default_values():
    assert layers("--input", "3x3") == {ConvSpec((3, 3), 2).label: ConvSpec((3, 3), 2)}
    spec = ConvSpec((8, 8), 3, in_channels=2, out_channels=4, padding=1, bias=True)
    argv = ["--input", "2x8x8", "--kernel", "3", "--out-channels", "4", "--padding", "1", "--bias"]
    assert layers(*argv) == {spec.label: spec}


def test_manifest_pooling_layers_are_skipped(tmp_path):
    manifest = tmp_path / "layers.toml"
    manifest.write_text(
        "[layers.conv]\ninput_size = [8, 8]\nkernel_size = 3\n\n"
        '[layers.pool]\nkind = "max"\ninput_size = [6, 6]\nkernel_size = 2\n',
        encoding="utf-8",
    )
    assert layers("--manifest", str(manifest)) == {"conv": ConvSpec((8, 8), 3)}
    only_pool = tmp_path / "pool.toml"
    only_pool.write_text('[layers.pool]\nkind = "max"\ninput_size = [6, 6]\nkernel_size = 2\n')
    with pytest.raises(ValueError, match="no convolution layers"):
        layers("--manifest", str(only_pool))


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--layers", "nosuch"], "--layers='nosuch': unknown layer 'nosuch'"),
        (["--layers", "lecture,"], "--layers='lecture,' must be layer names"),
        (["--dtype", "float16"], "--dtype='float16' must be one of float32, float64, both"),
        (["--budget", "0"], "--budget=0 must be a positive number of seconds"),
        (["--budget", "nan"], "--budget=nan must be a positive"),
        (["--manifest", "x.toml", "--kernel", "3"], "--manifest cannot be combined"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["bench", "-o", str(tmp_path), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("symconv: error: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""
    assert not list(tmp_path.iterdir())  # nothing timed, nothing written


def test_bench_one_tiny_layer_end_to_end(tmp_path, capsys):
    out = tmp_path / "results"
    argv = [
        "bench",
        "--input",
        "1x1x3x3",
        "--kernel",
        "2",
        "--dtype",
        "float32",
        "--budget",
        "0.05",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    label = ConvSpec((3, 3), 2).label
    assert label in captured.out and "1×1×3×3 → 1, k2, s1, p0" in captured.out
    assert "## float32" in captured.out and "## float64" not in captured.out
    assert "[bench]" in captured.err
    for name in ("bench.md", "bench.json"):
        assert (out / name).exists()
        assert str(out / name) in captured.out
    assert label in (out / "bench.md").read_text(encoding="utf-8")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib" in captured.err
    else:
        assert (out / "bench.png").exists()


def test_an_unusable_output_folder_fails_before_anything_is_timed(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    argv = ["bench", "--input", "3x3", "--kernel", "2", "-o", str(blocker / "results")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "a-file is a file, not a folder" in captured.err
    assert "[bench]" not in captured.err  # no gemm ceiling, no layer: nothing ran


# ----- --target cuda ---------------------------------------------------------------------
def _bench_cuda(tmp_path, simulator: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1" if simulator else "0"}
    argv = ["--target", "cuda", "--input", "5", "--kernel", "2", "--dtype", "float32"]
    return subprocess.run(
        [sys.executable, "-m", "symconv", "bench", *argv, "--budget", "0.01", "-o", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


@pytest.mark.skipif(
    importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed"
)
def test_bench_cuda_without_a_gpu_refuses_in_one_line(tmp_path):
    result = _bench_cuda(tmp_path / "out", simulator=False)
    if result.returncode == 0:
        pytest.skip("this machine has a CUDA GPU: the refusal cannot be seen")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "symconv: error: --target cuda needs a CUDA GPU, and numba.cuda.is_available() is "
        "False here"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(
    importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed"
)
def test_bench_cuda_runs_on_the_simulator_and_writes_its_table(tmp_path):
    result = _bench_cuda(tmp_path, simulator=True)
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "bench_cuda.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| conv1d")]
    assert [row.split(" | ")[2] for row in rows] == ["forward", "grad_input", "grad_weight"]
