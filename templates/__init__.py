"""The Jinja2 templates of generated kernel modules, shipped as package `symconv.templates`.

This folder sits at the repository root so the templates read as what they are,
layout; pyproject.toml maps it onto the package (an `__init__.py` lets editable
installs find it too).  symconv.codegen.templates loads them with importlib.resources.
"""
