"""Canonical JSON and a stable hash key, shared by every layer spec.

Two specs that describe the same layer must give the same text and the same key in
every process: the key names generated files and cache entries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, ClassVar, Self

SPEC_FORMAT_VERSION = 1


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples a spec holds (nested: padding pairs)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def field_names(cls: type) -> set[str]:
    """The constructor fields of a dataclass spec (ClassVars such as KIND are not fields)."""
    return {f.name for f in dataclasses.fields(cls)}


class CanonicalSpec:
    """Mixin for frozen dataclass specs: `to_json`, `from_json`, `key`."""

    KIND: ClassVar[str] = "spec"

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _store(self, **normalized: Any) -> None:
        """Replace constructor arguments by their validated, normalized form (frozen class)."""
        for name, value in normalized.items():
            object.__setattr__(self, name, value)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces, so equal layers give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = field_names(cls)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} field {unknown[0]!r}; known: {', '.join(sorted(known))}"
            )
        return cls(**{name: _tuples(value) for name, value in data.items()})

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(json.loads(text))

    def summary_rows(self) -> list[tuple[str, str]]:
        """(what, value) pairs a person reads: shapes first, then the hyperparameters."""
        raise NotImplementedError

    def _repr_markdown_(self) -> str:
        """Jupyter: the label and a table of shapes and hyperparameters."""
        rows = "\n".join(f"| {what} | {value} |" for what, value in self.summary_rows())
        return f"**`{self.label}`**\n\n| | |\n| :-- | :-- |\n{rows}"

    @property
    def key(self) -> str:
        """Stable 16-hex-digit hash of the canonical JSON (same in every process)."""
        payload = f"{self.KIND}-v{SPEC_FORMAT_VERSION}:{self.to_json()}"
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
