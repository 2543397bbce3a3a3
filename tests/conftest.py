"""Shared pytest set-up.

Generated kernel modules and Numba's compiled code go to one temporary folder per
test session (SYMCONV_CACHE_DIR): a spec used by several tests compiles once, and
the user's own cache is never touched.  Subprocesses started by tests inherit it.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/* from the current generator instead of comparing",
    )


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
def update_golden(request: pytest.FixtureRequest) -> bool:
    """--update-golden or SYMCONV_UPDATE_GOLDEN=1: write golden files instead of comparing."""
    return bool(request.config.getoption("--update-golden")) or (
        os.environ.get("SYMCONV_UPDATE_GOLDEN") == "1"
    )
