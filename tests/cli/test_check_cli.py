"""`symconv check` through the command line, in a subprocess: exit codes, formats, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.paths import EXAMPLES, ROOT

STUDENT = str(EXAMPLES / "student_conv.py")


def symconv(*argv: str, cwd: object = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symconv", "check", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
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
        ([f"{STUDENT}:forward", "--timeout", "0"], "--timeout 0 must be a positive number"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message):
    result = symconv(*argv)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_pytorchs_conv2d_on_every_rank_passes_rank_2_and_says_1_and_3_are_not_supported():
    pytest.importorskip("torch", reason="PyTorch is not installed")
    result = symconv("torch.nn.functional:conv2d", "--examples", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "rank 1: not supported, forward: every case raised RuntimeError: " in out
    assert "rank 3: not supported, forward: every case raised RuntimeError: " in out
    assert "pass --ranks 2 to check only the ranks it takes" in out
    assert "verdict: all cases pass (rank 1, 3 not supported)" in out


MYCONV = """
from helper import shift  # a module beside it: the file's own imports must work

def conv1d(x, w):
    import numpy as np
    n, c, length = x.shape
    m, _, k = w.shape
    out = np.zeros((n, m, length - k + 1), x.dtype)
    for j in range(length - k + 1):
        out[:, :, j] = np.einsum("nck,mck->nm", x[:, :, shift(j):j + k], w)
    return out
"""


@pytest.fixture
def user_folder(tmp_path):
    (tmp_path / "myconv.py").write_text(MYCONV)
    (tmp_path / "helper.py").write_text("def shift(j):\n    return j\n")
    return tmp_path


def test_a_module_in_the_current_folder_imports_and_keeps_the_users_name(user_folder):
    result = symconv("myconv:conv1d", "--convention", "numpy", "--ranks", "1",
                     "--examples", "0", cwd=user_folder)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "symconv check: forward=myconv:conv1d"


def test_a_file_path_imports_with_its_own_folder_on_the_path(user_folder, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    target = f"{user_folder / 'myconv.py'}:conv1d"
    result = symconv(target, "--convention", "numpy", "--ranks", "1", "--examples", "0",
                     cwd=elsewhere)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"symconv check: forward={target}"
    assert "symconv_check_" not in result.stdout


def test_a_closed_pipe_ends_the_check_quietly():
    """As under ``| head``: the reader is gone before the report is written (its end of the
    pipe is closed first, so the very first write fails)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    done = subprocess.run(
        [sys.executable, "-m", "symconv", "check", f"{STUDENT}:forward", "--convention",
         "numpy", "--ranks", "2", "--examples", "0", "--format", "markdown"],
        stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=180,
    )  # fmt: skip
    os.close(write_end)
    assert done.stderr == "", done.stderr
    assert done.returncode == 141  # 128 + SIGPIPE, as a Unix tool ended by the signal
