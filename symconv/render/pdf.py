"""Compile a LaTeX document with pdflatex, when it is installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from symconv.files import write_bytes_atomic

INSTALL_HINT = "apt-get install -y texlive-latex-base texlive-latex-recommended"


def pdflatex_available() -> bool:
    return shutil.which("pdflatex") is not None


def run_pdflatex(source: Path) -> subprocess.CompletedProcess[str]:
    """One pdflatex run on `source` in its own folder; the log is in the result's stdout."""
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", source.name],
        cwd=source.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


def first_error(result: subprocess.CompletedProcess[str]) -> str:
    """The first "!" line of a pdflatex log, or the exit status."""
    errors = [line for line in result.stdout.splitlines() if line.startswith("!")]
    return errors[0] if errors else f"exit status {result.returncode}"


def compile_pdf(latex_source: str, target: Path) -> Path:
    """Compile in a scratch folder and move only a finished PDF to `target`.

    pdflatex writes its PDF progressively; compiling elsewhere keeps a failed run from
    leaving a broken file where the user asked for one.
    """
    if not pdflatex_available():
        raise RuntimeError(f"--pdf needs pdflatex, which is not installed ({INSTALL_HINT})")
    with tempfile.TemporaryDirectory(prefix="symconv-latex-") as scratch:
        source = Path(scratch) / "derivation.tex"
        source.write_text(latex_source, encoding="utf-8")
        result = run_pdflatex(source)
        built = source.with_suffix(".pdf")
        if result.returncode != 0 or not built.exists():
            raise RuntimeError(f"pdflatex failed: {first_error(result)}")
        write_bytes_atomic(target, built.read_bytes())
    return target
