"""The last gate before a template: every string of a view must be what its place allows.

A target builds its view of the IR as plain strings (statement parts printed by
`IndexPrinter`, shapes, names) and passes it here before rendering: code fragments
may only contain identifier, number and operator characters, comment and docstring
lines no line breaks or quotes.  What reaches a template is therefore made from
validated integers, exact rationals, enum values and names symconv itself builds,
never from user text.
"""

from __future__ import annotations

import re
from typing import Any

_CODE = re.compile(r"[A-Za-z0-9_ ,:.\[\]()+\-*/%<=>]*")
_COMMENT = re.compile(r"[^\n\r]*")  # after a "#": anything but a line break
_DOCSTRING = re.compile(r"[^\n\r\\\"]*")  # inside """...""": no quotes or escapes either
PATTERNS = {
    "label": _COMMENT,  # shown in the header comment and the docstring only
    "description": _COMMENT,
    "spec_json": _COMMENT,
    "command": _COMMENT,
    "docstring": _DOCSTRING,
    "summary": _DOCSTRING,
    "notes": _DOCSTRING,
}


def check_view(value: Any, key: str = "") -> None:
    """Refuse any string that could break out of its place in the generated source."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_view(v, k)
    elif isinstance(value, list):
        for item in value:
            check_view(item, key)
    elif isinstance(value, str):
        if not PATTERNS.get(key, _CODE).fullmatch(value):
            raise ValueError(f"refusing to render {key}={value!r}: unexpected characters")
    elif not isinstance(value, (bool, int)) and value is not None:
        raise TypeError(f"{key} has type {type(value).__name__}; views hold strings only")
