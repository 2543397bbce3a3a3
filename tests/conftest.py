"""Shared pytest set-up.

Generated kernel modules and Numba's compiled code go to one temporary folder per
test session (SYMCONV_CACHE_DIR): a spec used by several tests compiles once, and
the user's own cache is never touched.  Subprocesses started by tests inherit it.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def symconv_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("symconv-cache")
    previous = os.environ.get("SYMCONV_CACHE_DIR")
    os.environ["SYMCONV_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("SYMCONV_CACHE_DIR", None)
    else:
        os.environ["SYMCONV_CACHE_DIR"] = previous


@pytest.fixture
def compile_latex(tmp_path):
    """Compile LaTeX text with pdflatex in tmp_path and check it built cleanly.

    Skips, saying why, where pdflatex is not installed.  Fails on an error, a missing
    PDF, or text running off the page (an overfull box).
    """
    from symconv.render.pdf import INSTALL_HINT, first_error, pdflatex_available, run_pdflatex

    if not pdflatex_available():
        pytest.skip(f"pdflatex not installed: {INSTALL_HINT}")

    def build(text: str, name: str = "document"):
        source = tmp_path / f"{name}.tex"
        source.write_text(text, encoding="utf-8")
        result = run_pdflatex(source)
        assert result.returncode == 0, first_error(result)
        assert source.with_suffix(".pdf").stat().st_size > 0
        assert "Overfull \\hbox" not in result.stdout
        return source.with_suffix(".pdf")

    return build
