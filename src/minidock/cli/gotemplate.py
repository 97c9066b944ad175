"""The subset of Go's text/template that `--format` flags use with docker.

Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming; field chains
(`.Config.Cmd`, `.`, `$`, `$var.Field`); string, number and boolean literals;
pipelines with `|`; parentheses; `if`/`else if`/`else`, `range` (with
`$i, $v :=`) and `with` blocks; and the functions scripts use with docker:
`json`, `index`, `join`, `split`, `len`, `upper`, `lower`, `title`, `print`,
`println`, `printf`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `not`, `and`, `or`,
`truncate`, `pad`. Values print as Go's `%v` does (`[a b]`, `map[k:v]`,
`true`), so output matches docker's for the same template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minidock.cli.output import go_json
from minidock.errors import MinidockError


class TemplateError(MinidockError):
    """A --format template that does not parse or cannot run on the data."""


@dataclass(frozen=True)
class GoNil:
    """A nil slice or map of Go's typed structs: prints `[]`/`map[]`, encodes as null."""

    printed: str


NIL_SLICE = GoNil("[]")
NIL_MAP = GoNil("map[]")


# ---------------------------------------------------------------- lexing

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<decl>:=)
  | (?P<punct>[|(),])
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise TemplateError(f"template parsing error: unexpected {text[pos]!r} in "
                                f"{{{{{text}}}}}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group(0)))
        pos = m.end()
    return out


# ---------------------------------------------------------------- tree


@dataclass
class _Text:
    text: str


@dataclass
class _Action:
    pipeline: list[list[tuple[str, Any]]]
    decl: list[str] = field(default_factory=list)


@dataclass
class _Block:
    kind: str  # if, range, with
    action: _Action
    body: list[Any] = field(default_factory=list)
    orelse: list[Any] = field(default_factory=list)


def _parse_operands(tokens: list[tuple[str, str]], pos: int, stop: set[str]
                    ) -> tuple[list[list[tuple[str, Any]]], int]:
    """A pipeline: commands separated by `|`, until a token in `stop`."""
    commands: list[list[tuple[str, Any]]] = [[]]
    while pos < len(tokens):
        kind, text = tokens[pos]
        if kind == "punct" and text in stop:
            break
        if kind == "punct" and text == "|":
            if not commands[-1]:
                raise TemplateError("template parsing error: missing command before |")
            commands.append([])
            pos += 1
            continue
        if kind == "punct" and text == "(":
            inner, pos = _parse_operands(tokens, pos + 1, {")"})
            if pos >= len(tokens):
                raise TemplateError("template parsing error: unclosed left paren")
            commands[-1].append(("pipe", inner))
            pos += 1
            continue
        if kind == "punct":
            raise TemplateError(f"template parsing error: unexpected {text!r}")
        if kind == "str":
            commands[-1].append(("lit", _unquote(text)))
        elif kind == "raw":
            commands[-1].append(("lit", text[1:-1]))
        elif kind == "num":
            commands[-1].append(("lit", float(text) if "." in text else int(text)))
        elif kind == "ident" and text in ("true", "false"):
            commands[-1].append(("lit", text == "true"))
        elif kind == "ident" and text == "nil":
            commands[-1].append(("lit", None))
        else:
            commands[-1].append((kind, text))
        pos += 1
    if not commands[-1]:
        raise TemplateError("template parsing error: missing value for command")
    return commands, pos


def _unquote(text: str) -> str:
    body = text[1:-1]
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "r": "\r", "'": "'"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), body)


def _parse_action(text: str) -> _Action:
    tokens = _tokens(text)
    decl: list[str] = []
    if any(k == "decl" for k, _ in tokens):
        idx = next(i for i, (k, _) in enumerate(tokens) if k == "decl")
        decl = [t for k, t in tokens[:idx] if k == "var"]
        if not decl:
            raise TemplateError("template parsing error: expected variable before :=")
        tokens = tokens[idx + 1:]
    pipeline, pos = _parse_operands(tokens, 0, set())
    return _Action(pipeline, decl)


def parse_template(source: str) -> list[Any]:
    """Parse into a node list; raises TemplateError with Go's wording."""
    root: list[Any] = []
    stack: list[tuple[_Block, list[Any]]] = []
    current = root
    pos = 0
    pending_trim = False
    for m in _ACTION.finditer(source):
        text = source[pos:m.start()]
        if pending_trim:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        if text:
            current.append(_Text(text))
        pending_trim = bool(m.group(3))
        pos = m.end()
        body = m.group(2).strip()
        if body.startswith("/*"):
            continue
        word = body.split(None, 1)[0] if body else ""
        rest = body[len(word):].strip()
        if word in ("if", "range", "with"):
            block = _Block(word, _parse_action(rest))
            current.append(block)
            stack.append((block, current))
            current = block.body
        elif word == "else":
            if not stack:
                raise TemplateError("template parsing error: unexpected {{else}}")
            block, _parent = stack[-1]
            if rest.startswith("if "):
                nested = _Block("if", _parse_action(rest[3:]))
                block.orelse.append(nested)
                # the nested if shares the outer block's {{end}}
                stack[-1] = (nested, _parent)
                current = nested.body
            else:
                current = block.orelse
        elif word == "end":
            if not stack:
                raise TemplateError("template parsing error: unexpected {{end}}")
            _block, current = stack.pop()
        elif not body:
            raise TemplateError("template parsing error: missing value for command")
        else:
            current.append(_parse_action(body))
    if stack:
        raise TemplateError("template parsing error: unexpected EOF")
    tail = source[pos:]
    if "{{" in tail:
        raise TemplateError("template parsing error: unclosed action")
    if pending_trim:
        tail = tail.lstrip()
    if tail:
        current.append(_Text(tail))
    return root


# ---------------------------------------------------------------- values


def go_format(value: Any) -> str:
    """Go's %v for JSON-shaped values."""
    if isinstance(value, GoNil):
        return value.printed
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:g}" if value != int(value) or abs(value) >= 1e21 else str(int(value))
        return text
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, GoNil):
        return False
    return bool(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, GoNil):
        return None
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, GoNil) or value is None:
            raise TemplateError("error calling index: index of untyped nil")
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list | tuple | str):
            if not isinstance(key, int) or not 0 <= key < len(value):
                raise TemplateError(f"error calling index: index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"error calling index: can't index item of type "
                                f"{type(value).__name__}")
    return value


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?(.)", re.DOTALL)
_GO_TYPES = {bool: "bool", int: "int", float: "float64", str: "string"}


def _go_type(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    return _GO_TYPES.get(type(value), "interface {}")


def _go_quote(text: str) -> str:
    """strconv.Quote: Go escapes, printable non-ASCII kept as it is."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _int_of(value: Any) -> int | None:
    """An integer operand: ints, and whole floats (JSON numbers decode as either)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _format_int(n: int, verb: str, flags: str, precision: int | None) -> str:
    sign = "-" if n < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
    digits = format(abs(n), verb)  # d, x, X, o and b mean what they mean in Go
    if precision is not None:
        digits = digits.rjust(precision, "0") if precision else (digits if n else "")
    if "#" in flags:
        digits = {"x": "0x", "X": "0X", "o": "0", "b": ""}.get(verb, "") + digits
    return sign + digits


def _format_float(x: float, verb: str, flags: str, precision: int | None) -> str:
    spec = ("+" if "+" in flags else (" " if " " in flags else "")) + ("#" if "#" in flags else "")
    if verb in "gG" and precision is None:
        text = repr(x) if verb == "g" else repr(x).upper()
        text = text.replace("e+0", "e+").replace("e-0", "e-")
        if "e" not in text.lower() and text.endswith(".0"):
            text = text[:-2]
        return (spec[:1] if spec[:1] and x >= 0 else "") + text
    precision = 6 if precision is None else precision
    text = format(x, f"{spec}.{precision}{verb}")
    return re.sub(r"([eE][+-])(\d)$", r"\g<1>0\2", text)  # Go keeps two exponent digits


def _format_one(verb: str, flags: str, precision: int | None, value: Any) -> str | None:
    """One value under one verb; None when the verb does not apply to its type."""
    if verb == "v" or (verb == "s" and not isinstance(value, bool | int | float)):
        text = go_format(value)
        return text[:precision] if precision is not None and verb == "s" else text
    if verb == "t":
        return ("true" if value else "false") if isinstance(value, bool) else None
    n = _int_of(value)
    if verb in "dxXob":
        if n is not None and (verb == "d" or not isinstance(value, float)):
            return _format_int(n, verb, flags, precision)  # %d takes a whole JSON number
        if verb in "xX" and isinstance(value, str):
            text = value.encode().hex()
            return text.upper() if verb == "X" else text
        return None
    if verb == "c":
        return chr(n) if n is not None else None
    if verb == "q":
        if isinstance(value, str):
            return _go_quote(value)
        return _go_quote(chr(n)).replace('"', "'") if n is not None else None
    if verb in "feEgGF":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _format_float(float(value), "f" if verb == "F" else verb, flags, precision)
        return None
    return None


def _pad_to(text: str, width: int | None, flags: str, numeric: bool) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+- " else ""
        return sign + text[len(sign):].rjust(width - len(sign), "0")
    return text.rjust(width)


def _printf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf for template values: flags, width, precision, the common
    verbs, and Go's `%!verb(type=value)` / `%!verb(MISSING)` / `%!(EXTRA ...)` marks."""
    values = list(args)
    used = 0

    def take() -> tuple[bool, Any]:
        nonlocal used
        if used >= len(values):
            return False, None
        used += 1
        return True, values[used - 1]

    def number(spec: str | None) -> int | None:
        if spec != "*":
            return int(spec) if spec else None
        ok, value = take()
        return value if ok and isinstance(value, int) else None

    def repl(m: re.Match[str]) -> str:
        flags, width_spec, precision_spec, verb = m.groups()
        if verb == "%":
            return "%"
        width = number(width_spec)
        precision = number(precision_spec) if precision_spec is not None else (
            0 if m.group(0)[-2:-1] == "." else None)
        ok, value = take()
        if not ok:
            return f"%!{verb}(MISSING)"
        text = _format_one(verb, flags, precision, value)
        if text is None:
            return f"%!{verb}({_go_type(value)}={go_format(value)})"
        numeric = verb in "dxXobfeEgGF" and isinstance(value, int | float)
        return _pad_to(text, width, flags, numeric)

    out = _VERB.sub(repl, fmt)
    if used < len(values):
        extra = ", ".join(f"{_go_type(v)}={go_format(v)}" for v in values[used:])
        out += f"%!(EXTRA {extra})"
    return out


def _slice(value: Any, *bounds: int) -> Any:
    """Go's `slice x i j`: a substring or a sub-list."""
    if isinstance(value, GoNil) or value is None:
        raise TemplateError("error calling slice: slice of untyped nil")
    if not isinstance(value, str | list | tuple):
        raise TemplateError(f"error calling slice: can't slice item of type {_go_type(value)}")
    if len(bounds) > 2 + (not isinstance(value, str)):
        raise TemplateError("error calling slice: too many slice indexes")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(value)
    if not 0 <= start <= end <= len(value):
        raise TemplateError(f"error calling slice: index out of range: {end}")
    return value[start:end]


def _html(*values: Any) -> str:
    """text/template's html: HTMLEscapeString of the printed arguments."""
    text = "".join(go_format(v) for v in values)
    for ch, entity in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"),
                       ('"', "&#34;"), ("\0", "\ufffd")):
        text = text.replace(ch, entity)
    return text


def _js(*values: Any) -> str:
    """text/template's js: JSEscapeString of the printed arguments."""
    out = []
    for ch in "".join(go_format(v) for v in values):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*values: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus("".join(go_format(v) for v in values))


def _len(value: Any) -> int:
    if isinstance(value, GoNil) or value is None:
        return 0
    try:
        return len(value)
    except TypeError:
        raise TemplateError(f"error calling len: len of type {type(value).__name__}") from None


def _truncate(text: Any, length: int) -> str:
    text = go_format(text)
    return text[:length] if len(text) > length else text


def _pad(text: Any, left: int, right: int) -> str:
    return " " * left + go_format(text) + " " * right


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": lambda v: go_json(_json_value(v)),
    "index": _index,
    "join": lambda items, sep: sep.join(go_format(i) for i in (items or [])
                                        if not isinstance(items, GoNil)),
    "split": lambda text, sep: go_format(text).split(sep),
    "len": _len,
    "upper": lambda v: go_format(v).upper(),
    "lower": lambda v: go_format(v).lower(),
    "title": lambda v: go_format(v).title(),
    "print": lambda *a: "".join(go_format(v) for v in a),
    "println": lambda *a: " ".join(go_format(v) for v in a) + "\n",
    "printf": _printf,
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda v: not _truthy(v),
    "and": lambda *a: next((v for v in a if not _truthy(v)), a[-1]),
    "or": lambda *a: next((v for v in a if _truthy(v)), a[-1]),
    "truncate": _truncate,
    "pad": _pad,
    "slice": _slice,
    "html": _html,
    "js": _js,
    "urlquery": _urlquery,
}


# ---------------------------------------------------------------- execution


class Template:
    """A parsed template; `render(data)` runs it.

    `nil_hints` maps a field name to what Go would print for it when null in a
    typed struct (e.g. {"Cmd": NIL_SLICE}), so `{{.Config.Entrypoint}}` gives
    `[]` as with docker, while `{{json ...}}` still gives `null`.
    """

    def __init__(self, source: str, nil_hints: Mapping[str, GoNil] | None = None):
        self.source = source
        self.nodes = parse_template(source)
        self.nil_hints = dict(nil_hints or {})

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._run(self.nodes, data, {"$": data}, out)
        return "".join(out)

    def _run(self, nodes: list[Any], dot: Any, env: dict[str, Any], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                value = self._pipeline(node.pipeline, dot, env)
                if node.decl:
                    env[node.decl[0]] = value
                else:
                    out.append(go_format(value))
            else:
                self._block(node, dot, env, out)

    def _block(self, block: _Block, dot: Any, env: dict[str, Any], out: list[str]) -> None:
        value = self._pipeline(block.action.pipeline, dot, env)
        if block.kind == "if":
            self._run(block.body if _truthy(value) else block.orelse, dot, env, out)
        elif block.kind == "with":
            if _truthy(value):
                self._run(block.body, value, env, out)
            else:
                self._run(block.orelse, dot, env, out)
        else:
            items: list[tuple[Any, Any]]
            if isinstance(value, Mapping):
                items = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list | tuple):
                items = list(enumerate(value))
            elif value is None or isinstance(value, GoNil):
                items = []
            elif isinstance(value, int):
                items = [(i, i) for i in range(value)]
            else:
                raise TemplateError(f"range can't iterate over {go_format(value)}")
            if not items:
                self._run(block.orelse, dot, env, out)
            for key, item in items:
                scope = dict(env)
                decl = block.action.decl
                if len(decl) == 1:
                    scope[decl[0]] = item
                elif len(decl) >= 2:
                    scope[decl[0]], scope[decl[1]] = key, item
                self._run(block.body, item, scope, out)

    def _pipeline(self, pipeline: list[list[tuple[str, Any]]], dot: Any,
                  env: dict[str, Any]) -> Any:
        value: Any = _MISSING
        for command in pipeline:
            value = self._command(command, dot, env, value)
        return value

    def _command(self, command: list[tuple[str, Any]], dot: Any, env: dict[str, Any],
                 piped: Any) -> Any:
        kind, text = command[0]
        if kind == "ident":
            func = FUNCTIONS.get(text)
            if func is None:
                raise TemplateError(f'template parsing error: function "{text}" not defined')
        else:
            func = self._operand(command[0], dot, env)
            if not callable(func):
                if len(command) > 1 or piped is not _MISSING:
                    raise TemplateError(f"can't give argument to non-function {text}")
                return func
        # a function, or a method of the row such as `.Label "com.example"`
        args = [self._operand(op, dot, env) for op in command[1:]]
        if piped is not _MISSING:
            args.append(piped)
        try:
            return func(*args)
        except TemplateError:
            raise
        except (TypeError, ValueError) as exc:
            if kind != "ident":
                raise TemplateError(f"wrong number of args for {text.lstrip('.')}: "
                                    f"got {len(args)}") from None
            raise TemplateError(f"error calling {text}: {exc}") from None

    def _operand(self, operand: tuple[str, Any], dot: Any, env: dict[str, Any]) -> Any:
        kind, text = operand
        if kind == "lit":
            return text
        if kind == "pipe":
            return self._pipeline(text, dot, env)
        if kind == "field":
            return self._fields(dot, text, text)
        if kind == "var":
            name, _, rest = text.partition(".")
            if name not in env:
                raise TemplateError(f'undefined variable "{name}"')
            return self._fields(env[name], "." + rest if rest else ".", text)
        if kind == "ident":
            func = FUNCTIONS.get(text)
            if func is None:
                raise TemplateError(f'template parsing error: function "{text}" not defined')
            return func()
        raise TemplateError(f"unexpected {text!r} in operand")

    def _fields(self, value: Any, chain: str, shown: str) -> Any:
        if chain == ".":
            return value
        for name in chain.strip(".").split("."):
            if isinstance(value, GoNil) or value is None:
                raise TemplateError(f'executing "" at <{shown}>: nil pointer evaluating '
                                    f"interface {{}}.{name}")
            if not isinstance(value, Mapping):
                raise TemplateError(f'executing "" at <{shown}>: can\'t evaluate field '
                                    f"{name} in type {type(value).__name__}")
            if name not in value:
                raise TemplateError(f'executing "" at <{shown}>: map has no entry for key '
                                    f'"{name}"')
            value = value[name]
            if value is None and name in self.nil_hints:
                value = self.nil_hints[name]
        return value


_MISSING = object()


def render(source: str, data: Any, nil_hints: Mapping[str, GoNil] | None = None) -> str:
    """Parse and run `source` on `data` in one go."""
    return Template(source, nil_hints).render(data)
