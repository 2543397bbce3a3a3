"""Tests for symconv.runtime.loader: one module per file, reused while the file is unchanged."""

from __future__ import annotations

from symconv.runtime import load_module


def test_load_module_reuses_an_unchanged_file_and_reloads_a_changed_one(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("VALUE = 1\n")
    first = load_module(path)
    assert load_module(path) is first and first.VALUE == 1
    path.write_text("VALUE = 22\n")
    assert load_module(path).VALUE == 22


def test_files_with_one_name_in_two_folders_get_two_modules(tmp_path):
    for folder, value in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.py").write_text(f"VALUE = {value}\n")
    a, b = load_module(tmp_path / "a" / "same.py"), load_module(tmp_path / "b" / "same.py")
    assert (a.VALUE, b.VALUE) == (1, 2) and a.__name__ != b.__name__
