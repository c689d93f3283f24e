"""Go templates over docker's documents (``info``, ``version``, ``events``): {{.A.B}},
{{json .}}, {{json .A}}, with the errors docker prints for an unclosed action and a field
the document's type does not have."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class TemplateError(ValueError):
    pass


def check_closed(template: str, name: str = "") -> None:
    """docker's parse error for an action left open."""
    if template.count("{{") != len(_ACTION.findall(template)):
        raise TemplateError(f"template: {name}:1: unclosed action")


def go_text(value: Any) -> str:
    """Go's fmt %v: booleans in lower case, maps as map[k:v ...] in key order, lists as
    [a b], nil as <nil>."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "<nil>"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_text(item) for item in value) + "]"
    return str(value)


def go_json(value: Any) -> str:
    """Go's json.Marshal: compact, <, > and & escaped (the document's own key order)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for character, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(character, escaped)
    return text


def _lookup(
    document: Mapping[str, Any], path: str, column: int, type_name: str, template_name: str
) -> Any:
    """A field chain through the document: a top-level field the type lacks is docker's
    execution error; a missing key further down prints <no value>."""
    names = [part for part in path.split(".") if part]
    value: Any = document
    for depth, field in enumerate(names):
        if depth == 0 and field not in document:
            raise TemplateError(
                f'template: {template_name}:1:{column}: executing "{template_name}" at'
                f" <.{field}>: can't evaluate field {field} in type {type_name}"
            )
        value = value.get(field, "<no value>") if isinstance(value, dict) else "<no value>"
    return value


def render(template: str, document: Mapping[str, Any], type_name: str, name: str = "") -> str:
    """One document through a template (``\\t`` and ``\\n`` as tab and newline); ``name``
    is the template's name in docker's messages (``version``'s is "version")."""
    return expand(
        template,
        document,
        lambda path, column: _lookup(document, path, column, type_name, name),
        name=name,
    )


def expand(
    template: str,
    document: Mapping[str, Any],
    lookup: Callable[[str, int], Any],
    *,
    text: Callable[[Any], str] = go_text,
    name: str = "",
) -> str:
    """The template with each action replaced: ``{{json .}}``, ``{{json .A.B}}`` and
    ``{{.A.B}}``, the field chains resolved by ``lookup(path, column)`` (the column docker's
    errors point at) and printed by ``text``."""
    check_closed(template, name)

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        column = match.start() + 2 + (len(match.group(1)) - len(match.group(1).lstrip()))
        if expression.startswith("json "):
            argument = expression[5:].strip()
            if argument == ".":
                return go_json(document)
            return go_json(lookup(argument, column + 5))
        if not expression.startswith("."):
            raise TemplateError(f'template: :1: function "{expression.split()[0]}" not defined')
        return text(lookup(expression, column))

    return _ACTION.sub(replace, template.replace("\\t", "\t").replace("\\n", "\n"))
