"""`render_module(spec)`: the source text of one self-contained kernel module.

This is the only place that turns IR into text for the templates.  It builds a plain
"view" of strings (statement parts printed by `IndexPrinter`, shapes, names) and
checks every string before rendering: code fragments may only contain identifier,
number and operator characters, comment and docstring lines no line breaks or
quotes.  What reaches a template is therefore made from validated integers, the
dtype and mode enums and names symconv itself builds, never from user text.
"""

from __future__ import annotations

import re
from typing import Any

import symconv
from symconv.codegen.printer import print_index, print_slices
from symconv.codegen.templates import MODULE_TEMPLATE, environment
from symconv.lower import LoopNest, lower_all
from symconv.lower.ir import Accumulate, For, If, Init, Let, Operand, Staged, Stmt, Store
from symconv.spec import ConvSpec
from symconv.symbolic.indices import index_level

#: The command in each module header that writes it again (the spec is its only input).
REGENERATE = "python -m symconv.pipeline '{spec_json}'"

SUMMARIES = {
    "forward": "y = x * w (+ b): every output gathers its input channels and taps.",
    "grad_input": (
        "dL/dx: the dilated, padded dL/dy correlated with the rotated filter (a gather)."
    ),
    "grad_weight": "dL/dw: the padded x correlated with dL/dy, summed over the batch.",
    "grad_bias": "dL/db: dL/dy summed over the batch and every output position.",
}

#: Array type name in the module for each tensor, by role.
ROLES = {
    "x": "INPUT",
    "gx": "INPUT",
    "w": "WEIGHT",
    "gw": "WEIGHT",
    "y": "OUTPUT",
    "gy": "OUTPUT",
    "b": "BIAS",
    "gb": "BIAS",
}

_CODE = re.compile(r"[A-Za-z0-9_ ,:.\[\]()+\-*/%<=>]*")
_COMMENT = re.compile(r"[^\n\r]*")  # after a "#": anything but a line break
_DOCSTRING = re.compile(r"[^\n\r\\\"]*")  # inside """...""": no quotes or escapes either
_PATTERNS = {
    "description": _COMMENT,
    "spec_json": _COMMENT,
    "command": _COMMENT,
    "docstring": _DOCSTRING,
    "summary": _DOCSTRING,
    "notes": _DOCSTRING,
}


def render_module(spec: ConvSpec, nests: dict[str, LoopNest] | None = None) -> str:
    """Python source of the module with forward, grad_input, grad_weight (and grad_bias)."""
    if nests is None:
        nests = lower_all(index_level(spec), spec)
    view = module_view(spec, nests)
    return environment().get_template(MODULE_TEMPLATE).render(**view)


def module_view(spec: ConvSpec, nests: dict[str, LoopNest]) -> dict[str, Any]:
    """Everything the module template shows, as checked strings."""
    names = ", ".join(nests)
    constants = {
        "INPUT_SHAPE": spec.input_shape,
        "WEIGHT_SHAPE": spec.weight_shape,
        "OUTPUT_SHAPE": spec.output_shape,
        "BIAS_SHAPE": spec.bias_shape if spec.bias else None,
    }
    ranks = {"INPUT": len(spec.input_shape), "WEIGHT": len(spec.weight_shape)}
    ranks |= {"OUTPUT": len(spec.output_shape), "BIAS": 1}
    view = {
        "version": symconv.__version__,
        "template": MODULE_TEMPLATE,
        "label": spec.label,
        "description": spec.describe(),
        "spec_json": spec.to_json(),
        "command": REGENERATE.format(spec_json=spec.to_json()),
        "docstring": f"Numba kernels of {spec.label}: {names}.",
        "key": spec.key,
        "dtype": spec.dtype,
        "constants": [{"name": k, "value": repr(v)} for k, v in constants.items()],
        "types": [
            {"name": role, "dims": ", ".join([":"] * (rank - 1) + ["::1"])}
            for role, rank in ranks.items()
            if role != "BIAS" or spec.bias
        ],
        "kernels": [kernel_view(nest, spec.dtype) for nest in nests.values()],
    }
    check_view(view)
    return view


def kernel_view(nest: LoopNest, dtype: str) -> dict[str, Any]:
    notes = [f"{s.name}: {describe_staged(s)}" for s in nest.staged] + list(nest.notes)
    return {
        "name": nest.name,
        "summary": SUMMARIES[nest.name],
        "notes": notes,
        "params": [p.name for p in nest.params],
        "param_types": [ROLES[p.name] for p in nest.params],
        "result_type": ROLES[nest.result.name],
        "parallel": str(nest.parallel),
        "staged": [_staged_view(s) for s in nest.staged],
        "scratch": [_buffer_view(s) for s in nest.scratch],
        "result": _buffer_view(nest.result),
        "body": [_statement_view(s, nest.parallel, dtype) for s in nest.body],
    }


def describe_staged(staged: Staged) -> str:
    """One line on how a staged copy is laid out: (before, after) zeros per spatial axis."""
    spatial = staged.axes[2:]
    pads = ", ".join(f"({b}, {a})" for b, a in staged.pads[2:])
    text = f"{staged.source.name}"
    if any(a.step > 1 for a in spatial):
        text += f" dilated by {', '.join(str(a.step) for a in spatial)},"
    text += f" padded {pads}"
    if any(min(p) < 0 for p in staged.pads[2:]):
        text += " (negative: rows never read are cropped)"
    return text


def _staged_view(staged: Staged) -> dict[str, Any]:
    landing, kept = staged.copy_slices()
    source = staged.source
    kept_text = print_slices(kept, source.shape)
    full = all(part == ":" for part in kept_text.split(", "))
    return {
        "name": staged.name,
        "shape": repr(staged.shape),
        "copy": not staged.empty,
        "landing": print_slices(landing, staged.shape),
        "source": source.name if full else f"{source.name}[{kept_text}]",
    }


def _buffer_view(operand: Operand) -> dict[str, str]:
    return {"name": operand.name, "shape": repr(operand.shape)}


def _statement_view(stmt: Stmt, parallel: bool, dtype: str) -> dict[str, Any]:
    if isinstance(stmt, For):
        return {
            "kind": "for",
            "var": stmt.var.name,
            "iterator": "numba.prange" if stmt.parallel and parallel else "range",
            "extent": str(stmt.extent),
            "body": [_statement_view(s, parallel, dtype) for s in stmt.body],
        }
    if isinstance(stmt, If):
        return {
            "kind": "if",
            "condition": " and ".join(print_index(g) for g in stmt.guards),
            "body": [_statement_view(s, parallel, dtype) for s in stmt.body],
        }
    if isinstance(stmt, Let):
        return {"kind": "let", "var": stmt.var.name, "expr": print_index(stmt.expr)}
    if isinstance(stmt, Init):
        zero = f"np.{dtype}(0.0)"
        value = print_index(stmt.value) if stmt.value is not None else zero
        return {"kind": "init", "acc": stmt.acc, "value": value}
    if isinstance(stmt, Accumulate):
        product = " * ".join(print_index(f) for f in stmt.factors)
        return {"kind": "accumulate", "acc": stmt.acc, "product": product}
    if isinstance(stmt, Store):
        return {"kind": "store", "target": print_index(stmt.target), "acc": stmt.acc}
    raise TypeError(f"no template branch for {type(stmt).__name__}")


def check_view(value: Any, key: str = "") -> None:
    """Refuse any string that could break out of its place in the generated source."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_view(v, k)
    elif isinstance(value, list):
        for item in value:
            check_view(item, key)
    elif isinstance(value, str):
        if not _PATTERNS.get(key, _CODE).fullmatch(value):
            raise ValueError(f"refusing to render {key}={value!r}: unexpected characters")
    elif not isinstance(value, (bool, int)) and value is not None:
        raise TypeError(f"{key} has type {type(value).__name__}; views hold strings only")
