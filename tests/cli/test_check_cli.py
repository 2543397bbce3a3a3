"""`symconv check` through the command line, in a subprocess: exit codes, formats, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import EXAMPLES, ROOT

STUDENT = str(EXAMPLES / "student_conv.py")


def symconv(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symconv", "check", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def student(*extra: str) -> subprocess.CompletedProcess:
    return symconv(
        f"{STUDENT}:forward",
        "--grad-input",
        f"{STUDENT}:grad_input",
        "--grad-weight",
        f"{STUDENT}:grad_weight",
        "--convention",
        "numpy",
        "--ranks",
        "2",
        *extra,
    )


def test_the_students_dilation_bug_is_found_shrunk_and_explained():
    result = student()
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "smallest failing layer (shrunk): input 1×1×1×3, weight 1×1×1×2" in out
    assert "dilation (1, 2)" in out
    assert "grad_input: FAIL" in out
    assert "yours 0, right -0.5" in out
    assert "∂L/∂X[0, 0, 0, 2] = Σ ∂L/∂O · ∂O/∂X over the outputs that use it:" in out
    assert "∂L/∂O[0, 0, 0, 0] · F[0, 0, 0, 1]" in out
    assert out.rstrip().splitlines()[-2] == "verdict: WRONG (2 of 16 named cases fail)"


def test_json_format_is_machine_readable():
    result = student("--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["smallest_failure"]["kernel"] == "grad_input"
    assert data["smallest_failure"]["layer"]["dilation"] == [1, 2]
    dilation = next(c for c in data["cases"] if c["name"] == "dilation")
    assert dilation["grad_input"]["ok"] is False and dilation["forward"]["ok"] is True


def test_pytorch_passes_with_exit_0():
    pytest.importorskip("torch", reason="PyTorch is not installed")
    result = symconv("torch.nn.functional:conv3d", "--ranks", "3", "--examples", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: all cases pass" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no_such_module_here:f"], "cannot import 'no_such_module_here': ModuleNotFoundError"),
        (["math:nope"], "'math' has no attribute 'nope'"),
        (["math"], "must be MODULE:FUNCTION"),
        (["math:sqrt", "--convention", "numpy"], "takes 1 positional arrays"),
        ([], "nothing to check"),
        ([f"{STUDENT}:forward", "--ranks", "4"], "ranks=(4,) must hold spatial ranks"),
        ([f"{STUDENT}:forward", "--examples", "-1"], "--examples -1 must be 0 or more"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message):
    result = symconv(*argv)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
