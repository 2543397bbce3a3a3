"""TOML manifests: named layers to generate kernels for, one table per layer.

    [layers.lenet_conv1]
    input_size = [28, 28]
    kernel_size = 5
    out_channels = 6
    bias = true

    [layers.lenet_pool1]
    kind = "max"
    input_size = [24, 24]
    kernel_size = 2
    channels = 6

A table with a ``kind`` key ("max" or "avg") is a pooling layer, whose field names are
exactly `PoolSpec`'s (kind, input_size, kernel_size, channels, batch, stride,
padding, dtype); any other table is a convolution with exactly `ConvSpec`'s
(input_size, kernel_size, in_channels, out_channels, batch, stride, padding,
dilation, groups, bias, dtype, mode).  Defaults are the classes' own, so a manifest
says nothing the Python API could not.  Every error is a `ValueError` naming the
file, the layer and the field.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from symconv.identity import field_names
from symconv.kinds import LayerSpec, spec_class

REQUIRED = ("input_size", "kernel_size")
_LAYER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def load_manifest(path: str | os.PathLike) -> dict[str, LayerSpec]:
    """Read a manifest file: layer name -> validated spec, in file order."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); "
            "a manifest is a UTF-8 TOML file"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    except RecursionError:
        raise ValueError(
            f"{path}: nested too deeply to read (a manifest is one [layers.NAME] table per "
            "layer of plain fields)"
        ) from None
    return parse_manifest(data, source=str(path))


def parse_manifest(data: dict[str, Any], source: str = "manifest") -> dict[str, LayerSpec]:
    """Validate the parsed TOML of a manifest; `source` names it in error messages."""
    unknown = sorted(set(data) - {"layers"})
    if unknown:
        raise ValueError(f"{source}: unknown top-level key {unknown[0]!r}; expected [layers.NAME]")
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise ValueError(f"{source}: no layers; add a table such as [layers.conv1]")
    return {name: _layer(source, name, table) for name, table in layers.items()}


def _layer(source: str, name: str, table: Any) -> LayerSpec:
    where = f"{source}: layer {name!r}"
    if not _LAYER_NAME.fullmatch(name):
        raise ValueError(f"{where}: a layer name uses letters, digits, _ and - only")
    if not isinstance(table, dict):
        raise ValueError(
            f"{where} must be a table of ConvSpec (or, with a kind key, PoolSpec) fields, "
            f"not {table!r}"
        )
    cls = spec_class(table)
    unknown = sorted(set(table) - field_names(cls))
    if unknown:
        known = ", ".join(sorted(field_names(cls)))
        raise ValueError(f"{where}: unknown {cls.__name__} field {unknown[0]!r}; known: {known}")
    for field in REQUIRED:
        if field not in table:
            raise ValueError(f"{where}: missing field {field!r}")
    try:
        return cls.from_dict(table)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
