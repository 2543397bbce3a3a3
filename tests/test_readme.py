"""The README says what symconv does, and every console block in it is a real run's output.

The first two bash blocks are what a new user types and what CI runs.  Every
```console block is run here, its command from the repository root, and compared with
what the command prints now, the way tests/test_pipeline.py keeps generated/ in sync:

- a block may leave lines out only where it shows a line of ``...``; between two such
  lines, its lines are consecutive lines of the real output;
- a block that does not start (end) with ``...`` starts (ends) where the output does;
- times ("5.7 s", "91 µs") and the kernel cache folder (shown as ~/.cache/symconv) are
  the only things allowed to differ.

An HTML comment just above a block says more about it: ``<!-- readme: needs torch
sklearn -->`` (skipped, with the reason, where a package is missing), ``<!-- readme:
stdout -->`` (the block shows the standard output only: a command whose progress goes to
standard error, which a terminal shows as a passing progress bar), or both, separated by
``;``.  When a block drifts, the failure prints the whole real output to paste from.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ELLIPSIS = "..."
#: Durations: "5.7 s", "(0.1 s)", "91 µs", "1,234 ms".
TIME = re.compile(r"\b\d[\d,]*(?:\.\d+)?\s?(?:s|ms|µs)\b")


def bash_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_first_command_installs_and_runs_the_main_job():
    first = bash_blocks()[0]
    assert "pip install -e ." in first and first.endswith("&& symconv")


def test_ci_runs_the_readme_test_command_verbatim_twice():
    """Once in a bare environment (no optional package), once with them."""
    second = bash_blocks()[1]
    assert "pytest" in second
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.splitlines().count(second) == 2
    bare, optional = ci.split("run 2 of 2", 1)
    assert "pip install" not in bare.replace(second, "")  # nothing optional before run 1
    assert "torch==2.13.0" in optional


# ----- console blocks ---------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """One ```console block: its command, the lines it shows, what it needs, where it is."""

    command: str
    shown: tuple[str, ...]
    needs: tuple[str, ...]
    line: int
    stdout_only: bool = False

    @property
    def id(self) -> str:
        return f"README:{self.line}:{self.command[:50]}"


def console_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"(?:<!-- readme: ([^>]*?) -->\n)?```console\n(.*?)```", re.S)
    blocks = []
    for match in pattern.finditer(text):
        directives = directives_of(match.group(1) or "")
        needs = tuple(directives.get("needs", ()))
        lines = match.group(2).rstrip("\n").split("\n")
        assert lines[0].startswith("$ "), f"a console block starts with its command: {lines[0]}"
        command = lines[0][2:]
        rest = lines[1:]
        while command.endswith("\\"):  # a command continued on the next line
            command = command[:-1].rstrip() + " " + rest.pop(0).strip()
        assert not any(line.startswith("$ ") for line in rest), "one command per block"
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append(Block(command, tuple(rest), needs, line, "stdout" in directives))
    return blocks


def directives_of(text: str) -> dict[str, list[str]]:
    """``needs torch sklearn; stdout`` -> {"needs": ["torch", "sklearn"], "stdout": []}."""
    found = {}
    for part in text.split(";"):
        words = part.split()
        if words:
            assert words[0] in ("needs", "stdout"), f"unknown readme directive {words[0]!r}"
            found[words[0]] = words[1:]
    return found


def run(command: str, stdout_only: bool = False) -> str:
    """The command's stdout and stderr, in the order written, as a user sees them (or its
    stdout alone)."""
    argv = shlex.split(command)
    if argv[0] == "symconv":
        argv = [sys.executable, "-m", "symconv", *argv[1:]]
    elif argv[0] in ("python", "python3"):
        argv = [sys.executable, *argv[1:]]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if stdout_only else subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=600,
    )
    return done.stdout


def normalized(line: str) -> str:
    cache = os.environ.get("SYMCONV_CACHE_DIR")
    if cache:
        line = line.replace(cache, "~/.cache/symconv")
    line = line.replace(f"{ROOT}/", "")
    return TIME.sub("<time>", line.rstrip())


def mismatch(shown: tuple[str, ...], output: list[str]) -> str | None:
    """None when `shown` is `output` abridged by ``...`` lines, else where it is not."""
    segments: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == ELLIPSIS:
            segments.append([])
        else:
            segments[-1].append(normalized(line))
    real = [normalized(line) for line in output]
    anchored_start, anchored_end = bool(segments[0]), bool(segments[-1])
    position = 0
    for number, segment in enumerate(segments):
        if not segment:
            continue
        if number == 0 and anchored_start:
            found = 0 if real[: len(segment)] == segment else -1
        else:
            found = _find(real, segment, position)
        if found < 0:
            return f"these shown lines are not consecutive lines of the output: {segment}"
        position = found + len(segment)
    if anchored_end and position != len(real):
        return f"the block ends before the output does (next: {real[position : position + 2]})"
    return None


def _find(lines: list[str], segment: list[str], start: int) -> int:
    for at in range(start, len(lines) - len(segment) + 1):
        if lines[at : at + len(segment)] == segment:
            return at
    return -1


def _missing(needs: tuple[str, ...]) -> list[str]:
    modules = {"sklearn": "sklearn", "torch": "torch", "matplotlib": "matplotlib"}
    return [n for n in needs if importlib.util.find_spec(modules.get(n, n)) is None]


@pytest.mark.parametrize("block", console_blocks(), ids=lambda b: b.id)
def test_console_block_is_a_real_run(block: Block):
    missing = _missing(block.needs)
    if missing:
        pytest.skip(f"the block's command needs {', '.join(missing)}, which is not installed")
    output = run(block.command, block.stdout_only).rstrip("\n").split("\n")
    problem = mismatch(block.shown, output)
    assert problem is None, (
        f"README line {block.line}: `{block.command}` prints something else now: {problem}\n"
        "The real output, to paste from:\n" + "\n".join(output)
    )


def test_the_matcher_allows_only_abridgement():
    out = ["a", "b", "c", "d"]
    assert mismatch(("a", "...", "d"), out) is None
    assert mismatch(("...", "b", "c", "..."), out) is None
    assert mismatch(("a", "b", "c", "d"), out) is None
    assert mismatch(("a", "c", "..."), out) is not None  # b left out without a "..."
    assert mismatch(("a", "b", "..."), out + ["took 5.7 s"]) is None
    assert mismatch(("...", "d"), out + ["e"]) is not None  # the output goes on
    assert mismatch(("...", "took 9 s"), ["took 5.7 s"]) is None  # times may differ
    assert mismatch(("b",), out) is not None  # not from the start


# ----- Python sessions ------------------------------------------------------------------------
def pycon_blocks() -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, session text, packages it needs) of every ```pycon block."""
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"(?:<!-- readme: ([^>]*?) -->\n)?```pycon\n(.*?)```", re.S)
    return [
        (
            text.count("\n", 0, m.start(2)) + 1,
            m.group(2),
            tuple(directives_of(m.group(1) or "").get("needs", ())),
        )
        for m in pattern.finditer(text)
    ]


@pytest.mark.parametrize("block", pycon_blocks(), ids=lambda b: f"README:{b[0]}")
def test_python_session_is_a_real_session(block):
    """Each ```pycon block runs under doctest: every shown result is what Python prints."""
    import doctest

    line, session, needs = block
    missing = _missing(needs)
    if missing:
        pytest.skip(f"the session needs {', '.join(missing)}, which is not installed")
    parser = doctest.DocTestParser()
    test = parser.get_doctest(session, {}, f"README:{line}", str(README), line)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    failures: list[str] = []
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)


def test_the_threads_excerpt_is_what_the_generated_module_says():
    """The ```text block after "Each kernel's docstring lists its steps" is the dL/dF docstring
    of the issue's layer (4 chunks of images, 4 output channels), lowered by unfold."""
    from symconv.kinds import ConvSpec
    from symconv.pipeline import render

    text = README.read_text(encoding="utf-8")
    after = text[text.index("Each kernel's docstring lists its steps") :]
    excerpt = re.search(r"```text\n(.*?)```", after, re.S).group(1)
    spec = ConvSpec((64,), 3, in_channels=32, out_channels=4, batch=4, stride=2)
    source = render(spec, {"grad_weight": "unfold"})
    for line in excerpt.strip("\n").splitlines():
        assert f"\n{line}\n" in source, line
