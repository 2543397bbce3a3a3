"""Code generation stage: loop-nest IR -> Python source through the Jinja2 templates."""

from symconv.codegen.printer import IndexPrinter, print_index
from symconv.codegen.render import render_module
from symconv.codegen.templates import template_digest

__all__ = ["IndexPrinter", "print_index", "render_module", "template_digest"]
