"""The Go-template subset used by --format."""

from __future__ import annotations

import pytest

from minidock.cli.gotemplate import NIL_MAP, NIL_SLICE, TemplateError, render

DOC = {
    "Id": "sha256:abc",
    "RepoTags": ["nginx:stable", "web:1"],
    "Size": 4261550,
    "Config": {"Cmd": ["nginx", "-g", "daemon off;"], "Entrypoint": None,
               "Env": ["PATH=/usr/bin", "A=1"], "Labels": {"z": "last", "a": "first"},
               "Tty": False, "Volumes": None},
}
HINTS = {"Entrypoint": NIL_SLICE, "Volumes": NIL_MAP}


@pytest.mark.parametrize("template, expected", [
    ("{{.Id}}", "sha256:abc"),
    ("{{.Config.Cmd}}", "[nginx -g daemon off;]"),
    ("{{json .Config.Cmd}}", '["nginx","-g","daemon off;"]'),
    ("{{index .RepoTags 0}}", "nginx:stable"),
    ("{{index .Config.Labels \"z\"}}", "last"),
    ("{{.Config.Entrypoint}}", "[]"),
    ("{{json .Config.Entrypoint}}", "null"),
    ("{{.Config.Volumes}}", "map[]"),
    ("{{.Config.Labels}}", "map[a:first z:last]"),
    ("{{.Config.Tty}} {{.Size}}", "false 4261550"),
    ("{{range .RepoTags}}<{{.}}>{{end}}", "<nginx:stable><web:1>"),
    ("{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}", "0=nginx:stable 1=web:1 "),
    ("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}", "a:first;z:last;"),
    ("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
    ("{{if .Config.Entrypoint}}ep{{else if .Config.Cmd}}cmd{{else}}-{{end}}", "cmd"),
    ("{{with .Config}}{{len .Env}}{{end}}", "2"),
    ("{{join .RepoTags \", \"}}", "nginx:stable, web:1"),
    ("{{.Id | printf \"%s!\"}}", "sha256:abc!"),
    ("{{printf \"%q %d\" .Id .Size}}", '"sha256:abc" 4261550'),
    ("{{upper (index .RepoTags 1)}}", "WEB:1"),
    ("{{if eq .Size 4261550}}big{{end}}", "big"),
    ("a  {{- .Id -}}  b", "asha256:abcb"),
    ("{{/* a comment */}}x", "x"),
    ("{{json .}}", '{"Id":"sha256:abc","RepoTags":["nginx:stable","web:1"],"Size":4261550,'
                   '"Config":{"Cmd":["nginx","-g","daemon off;"],"Entrypoint":null,'
                   '"Env":["PATH=/usr/bin","A=1"],"Labels":{"z":"last","a":"first"},'
                   '"Tty":false,"Volumes":null}}'),
])
def test_rendering(template: str, expected: str) -> None:
    assert render(template, DOC, HINTS) == expected


@pytest.mark.parametrize("template, message", [
    ("{{.Nope}}", 'map has no entry for key "Nope"'),
    ("{{.Id", "unclosed action"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{if .Id}}x", "unexpected EOF"),
    ("{{nosuch .Id}}", 'function "nosuch" not defined'),
    ("{{index .RepoTags 5}}", "index out of range"),
    ("{{.Id.Sub}}", "can't evaluate field Sub"),
    ("{{$x}}", 'undefined variable "$x"'),
])
def test_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}")
                       .replace("(", r"\(").replace("$", r"\$")):
        render(template, DOC, HINTS)


# What Go's fmt.Sprintf and text/template print for the same calls (checked against
# Go's documented verbs: width, precision, flags, and the %!verb marks).
@pytest.mark.parametrize("template, data, expected", [
    ('{{printf "%-8s|" .N}}', {"N": "web"}, "web     |"),
    ('{{printf "%8s|" .N}}', {"N": "web"}, "     web|"),
    ('{{printf "%.12s" .N}}', {"N": "0123456789abcdef"}, "0123456789ab"),
    ('{{printf "%5.2f" .F}}', {"F": 3.14159}, " 3.14"),
    ('{{printf "%x %X %o %b" .I .I .I .I}}', {"I": 255}, "ff FF 377 11111111"),
    ('{{printf "%#x" .I}}', {"I": 255}, "0xff"),
    ('{{printf "%x" .N}}', {"N": "hi"}, "6869"),
    ('{{printf "%q" .N}}', {"N": 'a"b\n'}, '"a\\"b\\n"'),
    ('{{printf "%05d|%+d|%-4d|" .I .I .I}}', {"I": 42}, "00042|+42|42  |"),
    ('{{printf "%.3e" .F}}', {"F": 12345.678}, "1.235e+04"),
    ('{{printf "%v %t %c" .L true 65}}', {"L": [1, "a"]}, "[1 a] true A"),
    ('{{printf "%d" .N}}', {"N": "x"}, "%!d(string=x)"),
    ('{{printf "%s" .I}}', {"I": 5}, "%!s(int=5)"),
    ('{{printf "%s %s" .N}}', {"N": "x"}, "x %!s(MISSING)"),
    ('{{printf "%s" .N .N}}', {"N": "x"}, "x%!(EXTRA string=x)"),
    ('{{printf "%d%%" .I}}', {"I": 50}, "50%"),
    ('{{slice .N 1 3}}|{{slice .N 2}}', {"N": "abcdef"}, "bc|cdef"),
    ('{{slice .L 1}}', {"L": ["a", "b", "c"]}, "[b c]"),
    ('{{html .H}}', {"H": "<a href='x'>&\"</a>"}, "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"),
    ('{{js .H}}', {"H": "<a='x'>&\""}, "\\u003Ca\\u003D\\'x\\'\\u003E\\u0026\\\""),
    ('{{urlquery .N}}', {"N": "a b&c"}, "a+b%26c"),
    ('{{len .N}} {{title .N}} {{lower "AB"}}', {"N": "web app"}, "7 Web App ab"),
    ('{{truncate .N 3}}|{{pad .N 1 2}}|', {"N": "abcdef"}, "abc| abcdef  |"),
    ('{{index (split .N ":") 1}}', {"N": "nginx:stable"}, "stable"),
])
def test_go_printf_and_functions(template: str, data: dict, expected: str) -> None:
    assert render(template, data) == expected


@pytest.mark.parametrize("template, message", [
    ("{{slice .N 4 2}}", "index out of range"),
    ("{{slice .I 1}}", "can't slice item of type int"),
])
def test_slice_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(template, {"N": "abc", "I": 3})
