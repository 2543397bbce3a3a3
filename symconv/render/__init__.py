"""Printers of a derivation: LaTeX (document or Jupyter fragment), Markdown and plain text.

`document` builds one neutral outline (sections of prose, equations and matrices,
in the lecture's order, elided for large layers); `latex`, `markdown` and `text`
only print it.  `Derivation.to_latex`, `to_markdown`, `to_text` and `str()` call
these modules; `pdf` compiles the LaTeX when pdflatex is installed.
`pooling_document` and `chain_document` build the outlines of a pooling layer and of a
convolution followed by pooling (seed 001), printed by the same three printers through
their `write(outline, names)`.
"""
