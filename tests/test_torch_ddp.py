"""symconv.torch under DistributedDataParallel: two processes, half a batch each, give the
parameters one process gets on the whole batch (tests/ddp_step.py does the run)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import ROOT

torch = pytest.importorskip("torch", reason="symconv.torch needs PyTorch (pip install torch)")


def test_ddp_over_two_processes_equals_one_process_on_the_whole_batch(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("this PyTorch build has no torch.distributed")
    result = subprocess.run(
        [sys.executable, "-m", "tests.ddp_step", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["weight_change"] > 1e-3  # the step did move the parameters
    assert outcome["max_difference"] < 1e-12
