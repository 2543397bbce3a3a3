"""The README's first two commands are what CI runs and what a new user types."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_first_command_installs_and_runs_the_main_job():
    first = bash_blocks()[0]
    assert "pip install -e ." in first and first.endswith("&& symconv")


def test_ci_runs_the_readme_test_command_verbatim():
    second = bash_blocks()[1]
    assert "pytest" in second
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert second in ci_lines
