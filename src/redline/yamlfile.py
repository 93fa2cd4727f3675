"""Read a YAML document into a pydantic model, with errors that name the file, the field and the line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from redline.errors import _LocatedError

M = TypeVar("M", bound=BaseModel)


def load_model(text: str, model: type[M], *, source: str, error: type[_LocatedError], what: str) -> M:
    """Parse ``text`` as YAML and validate it as ``model``; raise ``error`` naming field and line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise error(f"not valid YAML: {exc.problem}", source=source, line=line) from None
    if not isinstance(data, dict) or root is None:
        raise error(f"{what} is a YAML mapping", source=source, line=1)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc: Sequence[Any] = first["loc"]
        field = ".".join(str(p) for p in loc) or None
        raise error(_message(first), source=source, field=field, line=_line_of(root, loc)) from None


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    return re.sub(r"^Value error, ", "", str(error["msg"]))


def _line_of(node: yaml.Node, loc: Sequence[Any]) -> int:
    """The 1-based line of the YAML node at ``loc``, or of its nearest existing parent."""
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            return line
        node = child
        line = node.start_mark.line + 1
    return line


__all__ = ["load_model"]
