"""Interpolation: every operator of the Compose Specification, and its errors."""

from __future__ import annotations

import pytest

from minidock.compose.interpolate import TemplateError, interpolate, substitute
from minidock.errors import ComposeError

ENV = {"SET": "value", "EMPTY": "", "PORT": "8080", "INNER": "in"}

CASES = [
    ("plain", "plain"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("a-${SET}-b", "a-value-b"),
    ("$SET.x", "value.x"),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("cost $5", "cost $5"),
    ("${UNSET}", ""),
    ("${UNSET:-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${SET:-default}", "value"),
    ("${UNSET-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${UNSET:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${SET:?must be set}", "value"),
    ("${EMPTY?may be empty}", ""),
    ("${UNSET:-${INNER}}", "in"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-a-${INNER}-b} ${SET}", "a-in-b value"),
    ("${UNSET:-x:y}", "x:y"),
    ("${PORT}:80", "8080:80"),
]


@pytest.mark.parametrize(("template", "expected"), CASES)
def test_substitute(template: str, expected: str) -> None:
    assert substitute(template, ENV.get) == expected


def test_unset_plain_variables_are_reported_once() -> None:
    unset: list[str] = []
    substitute("${A} $A ${SET} ${B:-x}", ENV.get, unset)
    assert unset == ["A"]


@pytest.mark.parametrize(("template", "message"), [
    ("${UNSET:?need it}", "required variable UNSET is missing a value: need it"),
    ("${EMPTY:?need it}", "required variable EMPTY is missing a value: need it"),
    ("${UNSET?}", "required variable UNSET is missing a value"),
    ("${UNSET:?missing ${SET}}", "required variable UNSET is missing a value: missing value"),
    ("${not closed", 'invalid interpolation format "${not closed"'),
    ("${SET BAD}", 'invalid interpolation format "${SET BAD}"'),
    ("${}", 'invalid interpolation format "${}"'),
])
def test_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        substitute(template, ENV.get)
    assert str(info.value).startswith(message)


def test_tree_interpolation_names_the_path_and_casts_typed_fields() -> None:
    data = {"services": {"web": {"image": "x:${SET}", "read_only": "${T:-true}",
                                 "ports": [{"target": "${PORT}"}], "labels": {"k": "$$"}}}}
    out = interpolate(data, ENV.get, [])
    web = out["services"]["web"]
    assert web == {"image": "x:value", "read_only": True, "ports": [{"target": 8080}],
                   "labels": {"k": "$"}}
    with pytest.raises(ComposeError) as info:
        interpolate({"services": {"web": {"image": "${NOPE:?set NOPE}"}}}, ENV.get, [])
    assert info.value.path == ("services", "web", "image")
    assert str(info.value) == ("services.web.image: required variable NOPE is missing a value: "
                               "set NOPE")
