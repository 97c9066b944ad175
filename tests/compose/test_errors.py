"""Bad compose files: one line naming file, path and line; exit 1; no traceback."""

from __future__ import annotations

import pytest
from compose_testkit import Run

CASES = [
    ("invalid YAML", "services:\n  web:\n    image: nginx\n   ports: [1]\n", {},
     "Error: compose.yaml:4: invalid YAML: "),
    ("duplicate key", "services:\n  web:\n    image: a\n    image: b\n", {},
     'Error: compose.yaml:4: services.web: mapping key "image" already defined at line 3'),
    ("schema violation", "services:\n  web:\n    image: nginx\n    restart_policy: always\n", {},
     "Error: compose.yaml:2: services.web: additional properties 'restart_policy' not allowed"),
    ("schema type", "services:\n  web:\n    image: nginx\n    ports: 80\n", {},
     "Error: compose.yaml:4: services.web.ports: must be a array"),
    ("bad port", "services:\n  web:\n    image: nginx\n    ports:\n      - 8080:80\n"
     "      - \"80:abc\"\n", {},
     'Error: compose.yaml:6: services.web.ports[1]: invalid port "80:abc"'),
    ("unknown depends_on", "services:\n  web:\n    image: nginx\n    depends_on: [db]\n", {},
     'Error: compose.yaml:4: services.web.depends_on.db: service "web" depends on undefined '
     'service "db"'),
    ("depends_on loop", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n"
     "    depends_on: [a]\n", {},
     "Error: compose.yaml:7: services.b.depends_on.a: dependency cycle detected: a -> b -> a"),
    ("required variable", "services:\n  web:\n    image: nginx:${TAG:?set TAG first}\n", {},
     "Error: compose.yaml:3: services.web.image: required variable TAG is missing a value: "
     "set TAG first"),
    ("unknown volume", "services:\n  web:\n    image: nginx\n    volumes: [data:/data]\n", {},
     'Error: compose.yaml:4: services.web.volumes[0]: service "web" refers to undefined volume '
     "data"),
    ("unknown network", "services:\n  web:\n    image: nginx\n    networks: [front]\n", {},
     'Error: compose.yaml:4: services.web.networks.front: service "web" refers to undefined '
     "network front"),
    ("unknown secret", "services:\n  web:\n    image: nginx\n    secrets: [token]\n", {},
     'Error: compose.yaml:4: services.web.secrets[0]: service "web" refers to undefined secret '
     "token"),
    ("no image", "services:\n  web:\n    command: ls\n", {},
     'Error: compose.yaml:2: services.web: service "web" has neither an image nor a build '
     "context specified"),
    ("extends unknown", "services:\n  web:\n    extends: nope\n", {},
     'Error: compose.yaml:3: services.web.extends: cannot extend service "web": service "nope" '
     "not found"),
    ("unset ?", "services:\n  web:\n    image: ${V?no V}\n", {},
     "Error: compose.yaml:3: services.web.image: required variable V is missing a value: no V"),
    ("empty :?", "services:\n  web:\n    image: x${V:?}\n", {"V": ""},
     "Error: compose.yaml:3: services.web.image: required variable V is missing a value"),
    ("bad template", "services:\n  web:\n    image: ${V BAD}\n", {},
     'Error: compose.yaml:3: services.web.image: invalid interpolation format "${V BAD}"'),
    ("bad cast", "services:\n  web:\n    image: x\n    deploy:\n      replicas: ${N:-two}\n",
     {}, 'Error: compose.yaml:5: services.web.deploy.replicas: failed to cast to expected type: '
     'invalid integer "two"'),
    ("extends loop", "services:\n  a:\n    extends: b\n  b:\n    extends: a\n", {},
     "Error: compose.yaml:3: services.a.extends: circular reference: a in compose.yaml -> "
     "b in compose.yaml -> a in compose.yaml"),
    ("include loop", "include: [compose.yaml]\nservices:\n  a:\n    image: x\n", {},
     "Error: compose.yaml:1: include[0]: include cycle detected: compose.yaml include "
     "compose.yaml"),
    ("missing env_file", "services:\n  web:\n    image: x\n    env_file: nope.env\n", {},
     "Error: compose.yaml:4: services.web.env_file[0]: env file "),
    ("unknown config", "services:\n  web:\n    image: x\n    configs: [c]\n", {},
     'Error: compose.yaml:4: services.web.configs[0]: service "web" refers to undefined '
     "config c"),
    ("bad healthcheck", "services:\n  web:\n    image: x\n    healthcheck:\n"
     "      test: [WRONG]\n", {}, "Error: compose.yaml:5: services.web.healthcheck.test: "
     'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"'),
    ("bad duration", "services:\n  web:\n    image: x\n    stop_grace_period: soon\n", {},
     'Error: compose.yaml:4: services.web.stop_grace_period: invalid duration "soon"'),
    ("bad volume", "services:\n  web:\n    image: x\n    volumes: [\"a::b\"]\n", {},
     "Error: compose.yaml:4: services.web.volumes[0]: invalid spec: a::b: empty section"),
    ("empty file", "", {}, "Error: compose.yaml: empty compose file"),
    ("number as key", "services:\n  web:\n    image: x\n    environment:\n      1: a\n", {},
     "Error: compose.yaml:5: services.web.environment: non-string key: '1'"),
    ("alias loop", "x-a: &a [*a]\nservices: {}\n", {},
     "Error: compose.yaml:1: x-a[0]: invalid YAML: an alias refers to a node that contains it"),
    ("not a mapping", "- just\n- a list\n", {}, "Error: compose.yaml:1: top-level object must be "
     "a mapping"),
]


@pytest.mark.parametrize(("text", "env", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_file_gives_one_line(compose: Run, text: str, env: dict[str, str],
                                 message: str) -> None:
    result = compose({"compose.yaml": text}, "config", env=env)
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith(message), lines[0]


def test_error_in_a_second_file_names_that_file(compose: Run) -> None:
    result = compose({"a.yml": "services:\n  web:\n    image: nginx\n",
                      "b.yml": "services:\n  web:\n    ports: [\"1:x\"]\n"},
                     "-f", "a.yml", "-f", "b.yml", "config")
    assert result.returncode == 1
    assert result.stderr == 'Error: b.yml:3: services.web.ports[0]: invalid port "1:x"\n'


def test_missing_file(compose: Run) -> None:
    result = compose({}, "config")
    assert result.returncode == 1
    assert result.stderr == "Error: no configuration file provided: not found\n"


def test_file_that_is_not_utf8(compose: Run) -> None:
    (compose.project / "compose.yaml").write_bytes(b"services:\n  a:\n    image: \xff\n")  # type: ignore[attr-defined]
    result = compose({}, "config")
    assert result.returncode == 1
    assert result.stderr == "Error: compose.yaml: not UTF-8 text (byte 26)\n"
