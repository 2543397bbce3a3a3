"""Printers of a derivation: LaTeX (document or Jupyter fragment), Markdown and plain text.

`document` builds one neutral outline (sections of prose, equations and matrices,
in the lecture's order, elided for large layers); `latex`, `markdown` and `text`
only print it.  `Derivation.to_latex`, `to_markdown`, `to_text` and `str()` call
these modules; `pdf` compiles the LaTeX when pdflatex is installed.
"""
