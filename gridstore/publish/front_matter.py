"""Block-style YAML of plain data (dicts, lists, strings, numbers, bools), for card front matter.

Every string value (and every key but plain identifiers) is written double-quoted (JSON's escapes are YAML's), so no value
is misread (``10K<n<100K``, ``"no"``, ``1e3``); no YAML library is needed.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dump"]

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # keys that read back as these strings...
_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}  # ...unless YAML reads these


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False)


def _key(key: Any) -> str:
    text = str(key)
    bare = _BARE.fullmatch(text) and text.lower() not in _WORDS
    return text if bare else _scalar(text)


def _lines(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                out += [f"{pad}{_key(k)}:", *_lines(v, indent + 1)]
            else:
                out.append(f"{pad}{_key(k)}: {_flow(v)}")
        return out
    out = []
    for item in value:
        if isinstance(item, (dict, list)) and item:
            first, *rest = _lines(item, indent + 1)
            out += [f"{pad}- {first.lstrip()}", *rest]
        else:
            out.append(f"{pad}- {_flow(item)}")
    return out


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump(data: dict[str, Any]) -> str:
    """Return ``data`` as block-style YAML (one line per scalar, ending in a newline).

    Examples
    --------
    >>> print(dump({"size_categories": ["10K<n<100K"], "n": 3}), end="")
    size_categories:
      - "10K<n<100K"
    "n": 3
    """
    return "\n".join(_lines(data, 0)) + "\n"
