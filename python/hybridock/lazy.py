"""Names a module exports but imports on first use (a PEP 562 module ``__getattr__``), so that
importing the module costs only what a caller uses: ``hybridock.client``'s record and option
types, the registry package's HTTP client behind its manifest constants."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any


def exported(namespace: MutableMapping[str, Any], modules: Mapping[str, str], name: str) -> Any:
    """``name`` imported from its module in ``modules`` (name -> module) and kept in the
    module's ``namespace``; AttributeError, as Python's, for a name the module does not have."""
    module = modules.get(name)
    if module is None:
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    namespace[name] = value
    return value
