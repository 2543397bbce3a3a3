"""The command line: spec flags, output files, and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from symconv import ConvSpec
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
    (["derive", "--padding", "-1"], "must not be negative"),
    (["derive", "--input", "5x5", "--stride", "2", "--padding", "same"], 'padding="same"'),
    (["derive", "--groups", "2"], "in_channels=1 is not divisible by groups=2"),
    (["derive", "--input", "1x2x3x4x5x6"], "takes at most"),
    (["derive", "--kernel", "3x"], "must look like"),
    (["derive", "--mode", "flip"], "invalid choice"),
    (["derive", "--frobnicate"], "unrecognized arguments"),
]


def run_cli(argv: list[str]) -> int:
    """main() returns a status; argparse's own errors raise SystemExit with one."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize("argv,message", BAD_INPUTS)
def test_bad_input_is_one_line_status_2_and_no_file(tmp_path, capsys, argv, message):
    target = tmp_path / "never.txt"
    assert run_cli([*argv, "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not target.exists()


def test_module_entry_point_exits_2_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "symconv", "derive", "--kernel", "9"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "symconv: error: kernel_size[0]=9 spans 9, more than the padded input 3"
    )
    assert result.stdout == ""


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
    assert "✓ proved: ∂L/∂X is a full correlation with the 180°-rotated filter" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("verdict: OK: 6/6 patterns proved")  # no bias: no dL/db pattern
    assert "kernels match the reference" in last
