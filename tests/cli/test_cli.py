"""The command line: spec flags, output files, and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from symconv import ConvSpec, PoolSpec
from symconv.cli import build_parser, main
from symconv.cli.spec_args import spec_from_args


def spec_of(*argv: str) -> ConvSpec:
    return spec_from_args(build_parser().parse_args(["derive", *argv]))


def test_defaults_are_the_lecture_example():
    assert spec_of() == ConvSpec((3, 3), 2)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (
            ["--input", "7"],
            ConvSpec(
                (7,),
                2,
            ),
        ),
        (["--input", "7", "--kernel", "3"], ConvSpec((7,), 3)),
        (
            ["--input", "3x28x28", "--kernel", "5", "--out-channels", "6"],
            ConvSpec((28, 28), 5, in_channels=3, out_channels=6),
        ),
        (["--input", "4x3x8x8", "--kernel", "3x3"], ConvSpec((8, 8), 3, in_channels=3, batch=4)),
        (["--input", "2x5x6x7", "--kernel", "3x3x3"], ConvSpec((5, 6, 7), 3, in_channels=2)),
        (["--input", "4x16", "--kernel", "3", "--dims", "1"], ConvSpec((16,), 3, in_channels=4)),
        (
            ["--input", "9x9", "--kernel", "3", "--padding", "0:1,1:0", "--stride", "2,1"],
            ConvSpec((9, 9), 3, padding=((0, 1), (1, 0)), stride=(2, 1)),
        ),
        (
            ["--input", "9x9", "--kernel", "3", "--padding", "same", "--dilation", "2"],
            ConvSpec((9, 9), 3, padding="same", dilation=2),
        ),
        (
            [
                "--input",
                "4x9",
                "--kernel",
                "3",
                "--groups",
                "2",
                "--out-channels",
                "2",
                "--dims",
                "1",
                "--bias",
                "--mode",
                "convolution",
                "--dtype",
                "float64",
            ],
            ConvSpec(
                (9,),
                3,
                in_channels=4,
                out_channels=2,
                groups=2,
                bias=True,
                mode="convolution",
                dtype="float64",
            ),
        ),
    ],
)
def test_flags_build_the_spec(argv, expected):
    assert spec_of(*argv) == expected


def test_derive_prints_the_lecture_equations(capsys):
    assert main(["derive"]) == 0
    out = capsys.readouterr().out
    assert "O11" in out and "X11" in out and "F22" in out


@pytest.mark.parametrize("fmt,marker", [("latex", r"\begin{document}"), ("markdown", "$$")])
def test_derive_writes_the_chosen_format_to_a_file(tmp_path, fmt, marker):
    target = tmp_path / f"out.{fmt}"
    assert main(["derive", "--format", fmt, "-o", str(target)]) == 0
    assert marker in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left behind


BAD_INPUTS = [
    (["derive", "--input", "3x3", "--kernel", "5"], "kernel_size[0]=5 spans 5"),
    (["derive", "--stride", "0"], "stride[0]=0 must be a positive int"),
    (["derive", "--stride", "1.5"], "--stride='1.5' must be an integer"),
    (["derive", "--padding", "0:1:2"], "must be lo:hi"),
    (["derive", "--padding", "-1"], "--padding='-1': every value must be at least 0, not -1"),
    (["derive", "--input", "5x5", "--stride", "2", "--padding", "same"], 'padding="same"'),
    (["derive", "--groups", "2"], "in_channels=1 is not divisible by groups=2"),
    (["derive", "--input", "1x2x3x4x5x6"], "takes at most"),
    (["derive", "--kernel", "3x"], "must look like"),
    (["derive", "--mode", "flip"], "invalid choice"),
    (["derive", "--frobnicate"], "unrecognized arguments"),
]


POOL_BAD_INPUTS = [
    (["derive", "--pool", "max"], "--pool='max' must look like max:2"),
    (["derive", "--pool", "min:2"], "kind 'min' must be one of max, avg"),
    (["derive", "--pool", "max:2", "--values", "1,2,3"], "--values has 3 numbers; expected 9"),
    (["derive", "--pool", "max:2", "--values", "1,2,x,4,5,6,7,8,9"], "'x' is not a number"),
    (["derive", "--pool", "max:2", "--filter-values", "1"], "--filter-values has 1 numbers"),
    (["derive", "--values", "1,2"], "--values needs --pool"),
    (["derive", "--pool-only"], "--pool-only needs --pool"),
    (["derive", "--pool", "max:2", "--pool-only", "--kernel", "3"], "--kernel cannot be used"),
    (["derive", "--pool", "max:5"], "--pool='max:5': kernel_size[0]=5 is larger"),
    (["derive", "--pool", "avg:3:1:2"], "padding[0]=2 must be at most half"),
    (
        ["derive", "--pool", "max:2", "--pool-only", "--filter-values", "1"],
        "--filter-values needs a convolution",
    ),
]


def run_cli(argv: list[str]) -> int:
    """main() returns a status; argparse's own errors raise SystemExit with one."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize("argv,message", BAD_INPUTS + POOL_BAD_INPUTS)
def test_bad_input_is_one_line_status_2_and_no_file(tmp_path, capsys, argv, message):
    target = tmp_path / "never.txt"
    assert run_cli([*argv, "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not target.exists()


@pytest.mark.parametrize("argv", [["--input", "8x3x8x8", "--kernel", "3"], ["--stride=2"]])
def test_an_option_before_any_command_asks_for_the_command(capsys, argv):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    option = argv[0].split("=")[0]
    assert err == (
        f"symconv: error: {option} belongs to a command; put the command first, as in "
        f"symconv derive {option} … (commands: derive, draw, generate, verify, check, bench)\n"
    )


def test_module_entry_point_exits_2_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "symconv", "derive", "--kernel", "9"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "symconv: error: kernel_size[0]=9 spans 9, more than the padded input 3"
    )
    assert result.stdout == ""


def test_pdf_to_a_pdf_path_writes_it_once(tmp_path, capsys):
    from symconv.render.pdf import INSTALL_HINT, pdflatex_available

    if not pdflatex_available():
        pytest.skip(f"pdflatex not installed: {INSTALL_HINT}")
    target = tmp_path / "x.pdf"
    assert main(["derive", "--pdf", "-o", str(target)]) == 0
    err = capsys.readouterr().err
    assert err.count("wrote") == 1 and f"wrote {target}" in err
    assert target.read_bytes().startswith(b"%PDF") and list(tmp_path.iterdir()) == [target]
    assert main(["derive", "--pdf", "--format", "latex", "-o", str(tmp_path / "y.tex")]) == 0
    err = capsys.readouterr().err
    assert f"wrote {tmp_path / 'y.tex'}" in err and f"wrote {tmp_path / 'y.pdf'}" in err


def test_pdf_without_pdflatex_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pdflatex on this PATH
    assert main(["derive", "--pdf", "-o", str(tmp_path / "d.tex")]) == 2
    assert "--pdf needs pdflatex" in capsys.readouterr().err
    assert not (tmp_path / "d.tex").exists()


# ----- generate, verify and the main job (compiled kernels: the session cache makes reruns cheap)
def test_generate_writes_the_module_where_asked(tmp_path, capsys):
    assert main(["generate", "--input", "5x5", "--kernel", "3", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    written = list(tmp_path.glob("conv2d_1x1x5x5_to1_k3x3_s1_*.py"))
    assert len(written) == 1 and str(written[0]) in out


def test_verify_prints_errors_and_a_verdict(capsys):
    assert main(["verify", "--input", "5x5", "--kernel", "3", "--stride", "2", "--bias"]) == 0
    out = capsys.readouterr().out
    assert "grad_input   reference" in out and "verdict: all kernels match" in out


def test_missing_manifest_is_a_one_line_error(tmp_path, capsys):
    assert main(["generate", "--manifest", str(tmp_path / "absent.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symconv: error:") and err.count("\n") == 1


def test_main_job_runs_the_whole_pipeline_on_the_lecture_example(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "O11 = X11·F11 + X12·F12 + X21·F21 + X22·F22" in out
    assert (
        "✓ proved: ∂L/∂X is the full cross-correlation of ∂L/∂O with the 180°-rotated filter" in out
    )
    last = out.strip().splitlines()[-1]
    assert last.startswith("verdict: OK: 6/6 patterns proved")  # no bias: no dL/db pattern
    assert "kernels match the reference" in last


# ----- pooling: --pool, --pool-only, --values, --filter-values ----------------------------------
SEED_001_VALUES = ",".join(str(5 + r % 3 + c % 3) for r in range(6) for c in range(6))
SEED_001_ARGS = ["derive", "--input", "6x6", "--kernel", "3", "--pool", "max:2", "--zero-based"]


def pool_of(*argv: str):
    from symconv.cli.spec_args import pool_from_args

    args = build_parser().parse_args(["derive", *argv])
    return pool_from_args(args, None if args.pool_only else spec_from_args(args))


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--input", "6x6", "--kernel", "3", "--pool", "max:2"], PoolSpec("max", (4, 4), 2)),
        (
            ["--input", "2x8x8", "--out-channels", "3", "--pool", "avg:3:2"],
            PoolSpec("avg", (7, 7), 3, stride=2, channels=3),
        ),
        (["--input", "2x3x8x8", "--pool", "max:2x2:1:1", "--pool-only"], PoolSpec(
            "max", (8, 8), 2, stride=1, padding=1, channels=3, batch=2)),
        (["--input", "9", "--pool", "avg:3", "--pool-only"], PoolSpec("avg", (9,), 3)),
        (["--input", "4x4"], None),
    ],
)  # fmt: skip
def test_pool_flags_build_the_pool_spec(argv, expected):
    assert pool_of(*argv) == expected


def test_seed_001_from_the_command_line(capsys):
    assert main([*SEED_001_ARGS, "--values", SEED_001_VALUES]) == 0
    out = capsys.readouterr().out
    assert "C00 = 5·F00 + 6·F01 + 7·F02 + 6·F10 + 7·F11 + 8·F12 + 7·F20 + 8·F21 + 9·F22" in out
    assert "∂L/∂C01 = ∂L/∂P00·[C01 > C00 ∧ C01 ≥ C10 ∧ C01 ≥ C11]" in out
    assert "no filter F puts the maxima there" in out
    delta = "1,0,0,0,0,0,0,0,0"
    assert main([*SEED_001_ARGS, "--values", SEED_001_VALUES, "--filter-values", delta]) == 0
    out = capsys.readouterr().out
    assert "⎢ 0  ∂L/∂P00  ∂L/∂P01  0 ⎥" in out
    assert "∂L/∂F00 = 7·∂L/∂P00 + 8·∂L/∂P01 + 8·∂L/∂P10 + 9·∂L/∂P11" in out


def test_pool_only_with_values_and_latex(tmp_path, capsys):
    values = "1 3 2 1, 2 9 1 1, 1 3 2 3, 5 6 1 2"  # commas and spaces both separate
    argv = ["derive", "--input", "4x4", "--pool", "max:2", "--pool-only", "--values", values]
    assert main(argv) == 0
    assert "P11 = max(X11, X12, X21, X22) = max(1, 3, 2, 9) = 9, first at X22" in (
        capsys.readouterr().out
    )
    target = tmp_path / "pool.tex"
    assert main([*argv, "--format", "latex", "-o", str(target)]) == 0
    assert r"\max\left(X_{11}, X_{12}, X_{21}, X_{22}\right)" in target.read_text()


def test_help_says_what_values_are_for(capsys):
    with pytest.raises(SystemExit):
        main(["derive", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--pool KIND:K[:S[:P]]" in help_text and "--pool-only" in help_text
    assert "X of the convolution with --pool (36 numbers for --input 6x6)" in help_text


def test_generate_autotune_prints_the_choice_and_records_it(tmp_path, capsys):
    argv = ["generate", "--input", "9", "--kernel", "3", "--autotune", "-o", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "autotuned: forward " in out and "grad_weight " in out
    assert len(list(tmp_path.glob("*.autotune.json"))) == 1


def test_autotune_without_compiling_is_refused(tmp_path, capsys):
    argv = ["generate", "--autotune", "--no-compile", "-o", str(tmp_path)]
    assert run_cli(argv) == 2
    assert "--autotune times compiled kernels" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--autotune", "--autotune-seconds", "-5"],
            "--autotune-seconds '-5': expected a positive",
        ),
        (
            ["--autotune", "--autotune-seconds", "nan"],
            "--autotune-seconds 'nan': expected a positive",
        ),
        (["--autotune-seconds", "10"], "--autotune-seconds limits --autotune: give --autotune too"),
    ],
)
def test_a_bad_autotune_budget_is_one_line_and_status_2(tmp_path, capsys, extra, message):
    argv = ["generate", "--input", "9", "--kernel", "3", *extra, "-o", str(tmp_path / "out")]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


# ----- the CUDA target refuses before writing anything -----------------------------------------
def test_generate_cuda_without_numba_cuda_writes_nothing(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "numba_cuda" else real(name, *a),
    )
    out = tmp_path / "out"
    assert (
        main(["generate", "--input", "5", "--kernel", "2", "--target", "cuda", "-o", str(out)]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the CUDA target needs numba-cuda" in err
    assert not out.exists()


def test_generate_cuda_without_a_gpu_or_the_simulator_says_so_and_writes_nothing(tmp_path):
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed")
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "symconv", "generate", "--input", "5", "--kernel", "2",
         "--target", "cuda", "-o", str(out)],
        capture_output=True, text=True, env={**os.environ, "NUMBA_ENABLE_CUDASIM": "0"},
    )  # fmt: skip
    if done.returncode == 0:
        pytest.skip("this machine has a CUDA GPU: the refusal cannot be seen")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "symconv: error: the CUDA target found no usable CUDA GPU here (numba.cuda.is_available() "
        "is False): set NUMBA_ENABLE_CUDASIM=1 to run its kernels on Numba's CUDA simulator, on "
        "the CPU"
    ]
    assert not out.exists()
