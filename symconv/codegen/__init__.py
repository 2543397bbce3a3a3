"""Code generation, target-neutral: the index printer, the view check and the templates.

Each target (`symconv.targets`) turns loop nests into a view of checked strings and
renders its own templates with it; what they share lives here.
"""
