"""Tests for symconv.codegen.check: no string of a view can break out of its place."""

from __future__ import annotations

import pytest

from symconv.codegen.check import check_view


@pytest.mark.parametrize(
    "view",
    [
        {"params": ["x); import os; os.system('x')#"]},
        {"extent": "3\nimport os"},
        {"summary": 'ends the docstring """'},
        {"description": "two\nlines"},
        {"shape": 3.5},
    ],
)
def test_check_view_refuses_strings_that_could_escape(view):
    with pytest.raises((ValueError, TypeError)):
        check_view(view)
