"""Validation of one compose file against the Compose Specification JSON schema.

The schema is compose-spec.json beside this module (see the package docstring
for where it comes from). The error reported is jsonschema's most relevant one,
reworded as docker compose words it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from minidock.compose.tree import Path
from minidock.errors import ComposeError


@cache
def _validator() -> Any:
    text = resources.files("minidock.compose").joinpath("compose-spec.json").read_text("utf-8")
    schema = json.loads(text)
    return jsonschema.Draft7Validator(schema)


def _must_be(wanted: Any) -> str:
    kinds: list[str] = []
    for kind in wanted if isinstance(wanted, list) else [wanted]:
        kinds.extend(kind if isinstance(kind, list) else [kind])
    words = sorted({"mapping" if k == "object" else "array" if k == "array" else k
                    for k in kinds})
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return f"must be a {text}"


def _describe(error: Any) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        extra = [k for k in extra if not any(
            re.search(p, k) for p in error.schema.get("patternProperties", {}))]
        names = ", ".join(f"'{k}'" for k in extra)
        return f"additional properties {names} not allowed"
    if error.validator == "type":
        return _must_be(error.validator_value)
    if error.validator in ("oneOf", "anyOf") and error.context and all(
            e.validator == "type" and not e.relative_path for e in error.context):
        return _must_be([e.validator_value for e in error.context])
    if error.validator == "required":
        return error.message.replace("'", '"')
    return str(error.message)


def validate(model: dict[str, Any]) -> None:
    """Raise ComposeError (with the failing path) if `model` breaks the schema."""
    error = jsonschema.exceptions.best_match(_validator().iter_errors(model))
    if error is None:
        return
    path: Path = tuple(error.absolute_path)
    raise ComposeError(_describe(error), path=path)
