"""The README's figures are what `symconv draw` makes now: drawn again, byte for byte.

Regenerate after a deliberate change with the two commands the README lists (they
write exactly the files of docs/figures/strided and docs/figures/pooling).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from symconv.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {
    "strided": ["--input", "5x5", "--kernel", "3", "--stride", "2", "--padding", "1:0"],
    "pooling": ["--pool-only", "--input", "4x4", "--pool", "max:2:1",
                "--values", "3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3"],
}  # fmt: skip


@pytest.mark.parametrize("folder", sorted(COMMANDS))
def test_readme_figures_are_what_draw_makes(folder, tmp_path, capsys) -> None:
    assert main(["draw", *COMMANDS[folder], "--no-png", "-o", str(tmp_path)]) == 0
    committed = ROOT / "docs" / "figures" / folder
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    kept = {p.name: p.read_bytes() for p in committed.iterdir()}
    assert sorted(fresh) == sorted(kept), "regenerate with the README's command"
    for name, data in fresh.items():
        assert data == kept[name], f"docs/figures/{folder}/{name} is stale: regenerate it"


def test_readme_shows_both_figures() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for folder in COMMANDS:
        for path in (ROOT / "docs" / "figures" / folder).glob("*.svg"):
            if "grad_input.svg" in path.name or "pooling.svg" in path.name:
                assert f"](docs/figures/{folder}/{path.name})" in readme
