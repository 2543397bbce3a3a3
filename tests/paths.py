"""Where the repository's folders are, for tests at any depth of the tree."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GENERATED = ROOT / "generated"
