"""Safe YAML loading with YAML 1.2 scalars and a line for every path.

PyYAML resolves scalars by YAML 1.1, where `80:80` is a base-60 integer and
`no` is false; compose files are read as YAML 1.2 (the Go loader's rules), so
this loader keeps only the 1.2 core forms. Duplicate keys are an error, as they
are for docker compose. Only safe tags are constructed.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from minidock.compose.tree import Path
from minidock.errors import ComposeError


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core implicit types."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


def _int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits[:2] in ("0x", "0X"):
        return sign * int(digits[2:], 16)
    if digits[:2] in ("0o", "0O"):
        return sign * int(digits[2:], 8)
    if len(digits) > 1 and digits.startswith("0") and set(digits) <= set("01234567"):
        return sign * int(digits, 8)  # `mode: 0440`, as Go's base-0 parse reads it
    return sign * int(digits)


_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int",
                              re.compile(r"^[-+]?(?:[0-9]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+.0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                              ["~", "n", "N", ""])
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
_Loader.add_constructor("tag:yaml.org,2002:int", _int)


def load_yaml(text: str, filename: str) -> tuple[Any, dict[Path, int]]:
    """Parse one compose document; return its data and the 1-based line of each path."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        positions: dict[Path, int] = {}
        if node is not None:
            _walk(node, (), positions, filename, set())
            data = loader.construct_document(node)
        else:
            data = None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ComposeError(f"invalid YAML: {problem}", filename=filename, line=line) from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"invalid YAML: {exc}", filename=filename) from None
    finally:
        loader.dispose()
    return data, positions


def _walk(node: yaml.Node, path: Path, positions: dict[Path, int], filename: str,
          active: set[int]) -> None:
    """Record each path's line; reject duplicate keys like the Go parser does."""
    positions.setdefault(path, node.start_mark.line + 1)
    if id(node) in active:
        raise ComposeError("invalid YAML: an alias refers to a node that contains it",
                           path=path, filename=filename, line=node.start_mark.line + 1)
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            line = key_node.start_mark.line + 1
            if key_node.tag != "tag:yaml.org,2002:str" or not isinstance(key_node,
                                                                         yaml.ScalarNode):
                raise ComposeError(f"non-string key: {key_node.value!r}", path=path,
                                   filename=filename, line=line)
            key = key_node.value
            if key in seen:
                raise ComposeError(f'mapping key "{key}" already defined at line {seen[key]}',
                                   path=path, filename=filename, line=line)
            seen[key] = line
            positions.setdefault(path + (key,), line)
            _walk(value_node, path + (key,), positions, filename, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), positions, filename, active)
    active.discard(id(node))
