"""What a new user trips over, through the real command in a subprocess.

Every refusal is one line on stderr, exit status 2, no traceback, and nothing written:
odd output paths (a FIFO, a symbolic link, a folder, an empty path, a missing
parent), sizes past int64 or past this machine's memory, text that is not a flag's
form (full-width digits, a shell fragment, ``SAME``), manifests that cannot be read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.paths import ROOT

LECTURE_MARK = "O11 = X11·F11 + X12·F12 + X21·F21 + X22·F22"


def symconv(*argv: str, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "symconv", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def refused(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("symconv: error: ")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# ----- output paths --------------------------------------------------------------------------
def test_a_fifo_is_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = symconv("derive", "-o", str(fifo))
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert LECTURE_MARK in received[0].decode()
    assert fifo.is_fifo()


def test_a_symbolic_link_is_written_through(tmp_path):
    target, link = tmp_path / "real.md", tmp_path / "link.md"
    target.write_text("old\n")
    link.symlink_to(target)
    assert symconv("derive", "--format", "markdown", "-o", str(link)).returncode == 0
    assert link.is_symlink() and "$$" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.md", "real.md"]


def test_a_folder_or_an_empty_path_is_refused_by_its_own_name(tmp_path):
    refused(symconv("derive", "-o", str(tmp_path)), f"cannot write {tmp_path}: it is a folder")
    refused(symconv("derive", "-o", ""), "the output path is empty")
    refused(symconv("generate", "-o", ""), "the output folder is empty")
    refused(symconv("generate", "--manifest", ""), "--manifest is empty")
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_no_folder_tree_is_created_for_a_file(tmp_path):
    target = tmp_path / "missing" / "sub" / "out.txt"
    refused(symconv("derive", "-o", str(target)), f"the folder {target.parent} does not exist")
    assert not (tmp_path / "missing").exists()


def test_generate_creates_only_the_last_folder_and_says_so(tmp_path):
    result = symconv("generate", "--no-compile", "-o", str(tmp_path / "new"))
    assert result.returncode == 0, result.stderr
    assert f"created the folder {tmp_path / 'new'}" in result.stderr
    assert len(list((tmp_path / "new").glob("conv2d_*.py"))) == 1
    deep = tmp_path / "a" / "b"
    refused(symconv("generate", "--no-compile", "-o", str(deep)), "parent folder")
    assert not (tmp_path / "a").exists()


def test_generate_into_a_folder_needs_no_writable_cache(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be\n")
    result = symconv(
        "generate",
        "--no-compile",
        "-o",
        str(tmp_path / "out"),
        env={"SYMCONV_CACHE_DIR": str(blocker)},
    )
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out").glob("conv2d_*.py"))) == 1


# ----- sizes ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["--input", "99999999999999999999x3"],
            "input_size[0]=99999999999999999999 must be below 2**63",
        ),
        (["--input", "100000000x100000000x100000000", "--kernel", "3"], "more than an int64 index"),
        (["--input", "3x9223372036854775808"], "must be below 2**63"),
    ],
)
def test_impossible_sizes_are_refused_at_once(argv, message):
    refused(symconv("derive", *argv, timeout=20), message)


def test_a_huge_layer_is_costed_by_closed_forms():
    result = symconv("derive", "--input", "100000000x100000000", "--kernel", "3", timeout=30)
    assert result.returncode == 0, result.stderr
    assert "169,999,993,200,000,068 (≈ 1.7e17)" in result.stdout  # 2·9·o² − o², o = 10^8 − 2
    assert "(≈ 1.0e32)" in result.stdout


def test_verify_refuses_a_layer_that_cannot_fit_in_memory_before_writing(tmp_path):
    refused(
        symconv("verify", "--input", "100000x100000", "--kernel", "3", "-o", str(tmp_path)),
        "GiB",
        "more than the",
    )
    assert list(tmp_path.iterdir()) == []


# ----- flag text -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv,message",
    [
        (["--input", "３x３"], "--input='３x３' must be an integer (ASCII digits)"),
        (["--input", "3x3; touch PWNED"], "--input='3x3; touch PWNED' must be"),
        (["--padding", "SAME"], "same or valid"),
        (["--input", "-3x3"], "--input='-3x3': every value must be positive, not -3"),
        (["--padding", "0:1,1:0,2:2"], "--padding='0:1,1:0,2:2' has 3 lo:hi pairs"),
        (["--stride", "2,1,1"], "--stride='2,1,1' has 3 values; give 1"),
        (
            ["--input", "8", "--kernel", "3", "--tiles", "2x2"],
            "--tiles='2x2' has 2 values, but the layer is 1-D: give one value",
        ),
    ],
)
def test_flag_text_errors_quote_the_whole_value(argv, message):
    refused(symconv("derive", *argv), message)
    assert not (ROOT / "PWNED").exists()


def test_a_single_lo_hi_pair_and_an_upper_case_x_are_understood():
    result = symconv("derive", "--input", "4X4", "--kernel", "3", "--padding", "0:1")
    assert result.returncode == 0, result.stderr
    assert "padding (0:1, 0:1)" in result.stdout or "padding 0:1" in result.stdout


def test_generate_refuses_layer_flags_beside_a_manifest():
    refused(
        symconv("generate", "--manifest", "examples/lenet.toml", "--kernel", "3"),
        "--manifest cannot be combined with the layer flags (--kernel)",
    )


def test_unreadable_manifests_name_the_file_and_the_reason(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    refused(symconv("generate", "--manifest", str(deep)), f"{deep}: nested too deeply")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"[layers.a]\ninput_size = [3, 3]\n# caf\xe9\n")
    refused(symconv("generate", "--manifest", str(latin)), f"{latin}: not UTF-8 text (byte 0xe9")


# ----- the kernel cache ----------------------------------------------------------------------
def test_a_damaged_numba_cache_is_discarded_and_recompiled(tmp_path):
    env = {"SYMCONV_CACHE_DIR": str(tmp_path)}
    argv = ("verify", "--input", "6x6", "--kernel", "3", "--no-torch")
    assert symconv(*argv, env=env).returncode == 0
    index = sorted((tmp_path / "__pycache__").glob("*.forward-*.nbi"))[0]
    index.write_bytes(index.read_bytes()[:20])  # truncated, as by a crash mid-write
    result = symconv(*argv, env=env)
    assert result.returncode == 0, result.stderr
    assert "Numba's cache of conv2d_1x1x6x6" in result.stderr and "compiling again" in result.stderr
    assert "verdict: all kernels match" in result.stdout
    again = symconv(*argv, env=env)  # the cache is whole again
    assert again.returncode == 0 and "compiling again" not in again.stderr


def test_verify_all_algorithms_prints_a_row_per_variant(tmp_path):
    done = symconv("verify", "--input", "4x4", "--kernel", "2", "--tiles", "2",
                   "--all-algorithms", "--no-torch", "-o", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "every algorithm and variant: OK" in done.stdout
    assert "  grad_weight  direct@1" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "verdict: all kernels match"


# ----- Ctrl-C --------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the processes")
def test_ctrl_c_at_once_is_one_line_and_status_130():
    started = subprocess.Popen(
        [sys.executable, "-m", "symconv", "derive", "--input", "9x9", "--kernel", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    time.sleep(0.15)  # still importing
    started.send_signal(signal.SIGINT)
    out, err = started.communicate(timeout=60)
    assert started.returncode == 130, err
    assert err == "symconv: interrupted\n"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the processes")
def test_ctrl_c_during_a_cold_compile_stops_the_compile_workers(tmp_path):
    """A threaded layer, an empty cache: the loader starts one worker process per kernel."""
    env = {**os.environ, "SYMCONV_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    started = subprocess.Popen(
        [sys.executable, "-m", "symconv", "generate", "--input", "4x16x24x24", "--kernel", "3",
         "--out-channels", "16", "--padding", "1", "-o", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while not workers and time.monotonic() < deadline and started.poll() is None:
        time.sleep(0.1)
        workers = _children(started.pid)
    if not workers:
        started.kill()
        pytest.skip("no compile worker was started (one core, or the cache was warm)")
    started.send_signal(signal.SIGINT)
    _, err = started.communicate(timeout=60)
    assert started.returncode == 130 and err.strip().endswith("symconv: interrupted")
    time.sleep(0.5)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert not alive, f"compile workers {alive} outlived the interrupted command"
