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
