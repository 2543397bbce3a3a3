"""`render_module(spec)`: the source text of one self-contained kernel module.

This is the only place that turns IR into text for the templates.  It builds a plain
"view" of strings (statement parts printed by `IndexPrinter`, shapes, names) and
checks every string before rendering: code fragments may only contain identifier,
number and operator characters, comment and docstring lines no line breaks or
quotes.  What reaches a template is therefore made from validated integers, the
dtype and mode enums and names symconv itself builds, never from user text.
"""

from __future__ import annotations

import math
import re
from typing import Any

import sympy as sp

import symconv
from symconv.codegen.printer import print_index, print_slices
from symconv.codegen.templates import MODULE_TEMPLATE, environment
from symconv.layers import LayerSpec, layer_formulas
from symconv.lower import LoopNest, lower_all
from symconv.lower.ir import (
    IDENTITIES,
    Accumulate,
    For,
    If,
    Init,
    Let,
    Maximize,
    Operand,
    ScatterAdd,
    Staged,
    Stmt,
    Store,
)
from symconv.pool_spec import PoolSpec

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

POOL_SUMMARIES = {
    ("max", "forward"): "y = the largest x of each window; padding is -inf and never wins.",
    ("max", "grad_input"): (
        "dL/dx: each window adds dL/dy at its first maximum (row-major), overlaps add up."
    ),
    ("avg", "forward"): "y = the mean of each window, padded zeros counted (count_include_pad).",
    ("avg", "grad_input"): "dL/dx: each input gathers dL/dy / |window| from the windows it is in.",
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
    "label": _COMMENT,  # shown in the header comment and the docstring only
    "description": _COMMENT,
    "spec_json": _COMMENT,
    "command": _COMMENT,
    "docstring": _DOCSTRING,
    "summary": _DOCSTRING,
    "notes": _DOCSTRING,
}


def render_module(spec: LayerSpec, nests: dict[str, LoopNest] | None = None) -> str:
    """Python source of the module: forward, grad_input (, grad_weight, grad_bias)."""
    if nests is None:
        nests = lower_all(layer_formulas(spec), spec)
    view = module_view(spec, nests)
    return environment().get_template(MODULE_TEMPLATE).render(**view)


def _shapes(spec: LayerSpec) -> tuple[dict[str, Any], dict[str, int]]:
    """(shape constants, rank of each array type) of the layer's module."""
    if isinstance(spec, PoolSpec):
        constants = {"INPUT_SHAPE": spec.input_shape, "OUTPUT_SHAPE": spec.output_shape}
        return constants, {"INPUT": len(spec.input_shape), "OUTPUT": len(spec.output_shape)}
    constants = {
        "INPUT_SHAPE": spec.input_shape,
        "WEIGHT_SHAPE": spec.weight_shape,
        "OUTPUT_SHAPE": spec.output_shape,
        "BIAS_SHAPE": spec.bias_shape if spec.bias else None,
    }
    ranks = {"INPUT": len(spec.input_shape), "WEIGHT": len(spec.weight_shape)}
    ranks |= {"OUTPUT": len(spec.output_shape)}
    if spec.bias:
        ranks["BIAS"] = 1
    return constants, ranks


def _summary(spec: LayerSpec, name: str) -> str:
    if isinstance(spec, PoolSpec):
        return POOL_SUMMARIES[spec.kind, name]
    return SUMMARIES[name]


def module_view(spec: LayerSpec, nests: dict[str, LoopNest]) -> dict[str, Any]:
    """Everything the module template shows, as checked strings."""
    names = ", ".join(nests)
    constants, ranks = _shapes(spec)
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
        ],
        "kernels": [
            kernel_view(nest, spec.dtype, _summary(spec, name)) for name, nest in nests.items()
        ],
    }
    check_view(view)
    return view


def kernel_view(nest: LoopNest, dtype: str, summary: str | None = None) -> dict[str, Any]:
    notes = [f"{s.name}: {describe_staged(s)}" for s in nest.staged] + list(nest.notes)
    return {
        "name": nest.name,
        "summary": SUMMARIES[nest.name] if summary is None else summary,
        "notes": notes,
        "params": [p.name for p in nest.params],
        "param_types": [ROLES[p.name] for p in nest.params],
        "result_type": ROLES[nest.result.name],
        "parallel": str(nest.parallel),
        "fastmath": str(nest.fastmath),
        "staged": [_staged_view(s) for s in nest.staged],
        "scratch": [_buffer_view(s) for s in nest.scratch],
        "result": {**_buffer_view(nest.result), "zeroed": nest.zeroed},
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
    if staged.fill:
        text += f" with {_literal(staged.fill, None)}"
    return text


def _literal(value: float, dtype: str | None) -> str:
    """A float constant as source: -np.inf, or np.<dtype>(value) when typed."""
    if math.isinf(value):
        text = "-np.inf" if value < 0 else "np.inf"
    else:
        text = repr(float(value))
    return text if dtype is None else f"np.{dtype}({text})"


def _staged_view(staged: Staged) -> dict[str, Any]:
    landing, kept = staged.copy_slices()
    source = staged.source
    kept_text = print_slices(kept, source.shape)
    full = all(part == ":" for part in kept_text.split(", "))
    return {
        "name": staged.name,
        "shape": repr(staged.shape),
        "fill": _literal(staged.fill, None) if staged.fill else "",
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
        start = _literal(IDENTITIES[stmt.reduction], dtype)
        value = print_index(stmt.value) if stmt.value is not None else start
        return {"kind": "init", "acc": stmt.acc, "value": value}
    if isinstance(stmt, Accumulate):
        product = " * ".join(print_index(f) for f in stmt.factors)
        return {"kind": "accumulate", "acc": stmt.acc, "product": product}
    if isinstance(stmt, Maximize):
        return {
            "kind": "maximize",
            "acc": stmt.acc,
            "value": print_index(stmt.value),
            "track": [{"var": v.name, "expr": print_index(e)} for v, e in stmt.track],
        }
    if isinstance(stmt, ScatterAdd):
        product = " * ".join(print_index(f) for f in stmt.factors)
        return {"kind": "scatter", "target": print_index(stmt.target), "product": product}
    if isinstance(stmt, Store):
        return {"kind": "store", "target": print_index(stmt.target), "value": _scaled(stmt, dtype)}
    raise TypeError(f"no template branch for {type(stmt).__name__}")


def _scaled(store: Store, dtype: str) -> str:
    """acc, acc / np.<dtype>(q) for a scale 1/q, else acc * np.<dtype>(p) / np.<dtype>(q)."""
    scale = sp.Rational(store.scale)
    if scale == 1:
        return store.acc
    p, q = int(scale.p), int(scale.q)
    if p == 1:
        return f"{store.acc} / np.{dtype}({q})"
    return f"{store.acc} * np.{dtype}({p}) / np.{dtype}({q})"


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
