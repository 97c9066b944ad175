"""Python values of `run`'s arguments -> the runtime's -p/-e/-v strings, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from minidock.api import arguments
from minidock.runtime.options import parse_publish, parse_volume


@pytest.mark.parametrize(("ports", "specs"), [
    ({80: None}, ["0:80"]),
    ({80: 8080}, ["8080:80"]),
    ({"80/tcp": None, "443": 8443}, ["0:80", "8443:443"]),
    ({80: ("127.0.0.1", None)}, ["127.0.0.1:0:80"]),
    ({80: ("::1", 9000)}, ["[::1]:9000:80"]),
    ({80: [None, ("127.0.0.1", 8081)]}, ["0:80", "127.0.0.1:8081:80"]),
    ([80, "6379/tcp"], ["0:80", "0:6379"]),
    (None, []),
])
def test_ports_become_publish_specs_the_runtime_parses(ports, specs):
    assert arguments.publish(ports) == specs
    for spec in specs:
        parse_publish(spec)  # the runtime accepts every one of them


def test_a_free_host_port_is_asked_for_with_port_zero():
    [binding] = parse_publish(arguments.publish({80: None})[0])
    assert (binding.host_port, binding.container_port) == (0, 80)


@pytest.mark.parametrize(("ports", "error", "text"), [
    ("80:80", TypeError, "ports must be a dict"),
    ({80.5: None}, TypeError, "container port must be an int"),
    ({True: None}, TypeError, "container port must be an int"),
    ({0: None}, ValueError, "out of range"),
    ({70000: None}, ValueError, "out of range"),
    ({"53/udp": None}, ValueError, "only tcp"),
    ({"http": None}, ValueError, "not a port number"),
    ({80: "x"}, ValueError, "not a port number"),
    ({80: 1.5}, TypeError, "host port for port 80 must be an int"),
    ({80: ("127.0.0.1",)}, ValueError, "must be (address, port)"),
    ({80: (1, 2)}, TypeError, "host address for port 80 must be a str"),
    ({80: []}, ValueError, "list of host bindings is empty"),
])
def test_bad_ports_are_refused_with_the_argument_named(ports, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        arguments.publish(ports)


def test_env_from_a_dict_or_a_list():
    assert arguments.environment({"A": "1", "B": 2, "C": 1.5}) == ["A=1", "B=2", "C=1.5"]
    assert arguments.environment(["A=1", "B=x=y"]) == ["A=1", "B=x=y"]
    assert arguments.environment(None) == []


@pytest.mark.parametrize(("env", "error", "text"), [
    ("A=1", TypeError, "env must be a dict"),
    ({"A": None}, TypeError, "env value of A must be a str or a number"),
    ({"A": True}, TypeError, "env value of A"),
    ({1: "x"}, TypeError, "env names must be str"),
    (["A"], ValueError, "must have the form NAME=value"),
    ([1], TypeError, "env items must be"),
    ({"": "x"}, ValueError, "env name '' is not valid"),
    ({"A B": "x"}, ValueError, "is not valid"),
])
def test_bad_env_is_refused(env, error, text):
    with pytest.raises(error, match=text):
        arguments.environment(env)


def test_volumes_from_paths_names_and_strings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    specs = arguments.mounts({
        Path("site"): "/usr/share/nginx/html",
        "/srv/data": {"bind": "/data", "mode": "ro"},
        "cache": "/var/cache:rw",
    })
    assert specs == [f"{tmp_path}/site:/usr/share/nginx/html", "/srv/data:/data:ro",
                     "cache:/var/cache:rw"]
    kinds = [parse_volume(spec).kind for spec in specs]
    assert kinds == ["bind", "bind", "volume"]
    assert arguments.mounts(["/a:/b:ro"]) == ["/a:/b:ro"]


@pytest.mark.parametrize(("volumes", "error", "text"), [
    ("/a:/b", TypeError, "volumes must be a dict"),
    ({"./rel": "/b"}, ValueError, "neither an absolute host path nor a volume name"),
    ({3: "/b"}, TypeError, "volume sources must be a str or a path"),
    ({"/a": "b"}, ValueError, "must be absolute"),
    ({"/a": 5}, TypeError, "container path must be a str"),
    ({"/a": {"bind": "/b", "mode": "rx"}}, ValueError, "mode must be 'ro' or 'rw'"),
    ({"/a": {"bind": "/b", "ro": True}}, ValueError, "unknown keys"),
    ([("/a", "/b")], TypeError, "volumes items must be"),
])
def test_bad_volumes_are_refused(volumes, error, text):
    with pytest.raises(error, match=text):
        arguments.mounts(volumes)


def test_commands_are_lists_or_shell_split_strings():
    assert arguments.argv("sh -c 'echo hi there'", "command") == ["sh", "-c", "echo hi there"]
    assert arguments.argv(["echo", Path("/x")], "command") == ["echo", "/x"]
    assert arguments.argv(None, "command") is None
    with pytest.raises(TypeError, match="command must be a str or a list of str"):
        arguments.argv(42, "command")
    with pytest.raises(TypeError, match="command items must be str"):
        arguments.argv(["echo", 1], "command")
    with pytest.raises(ValueError, match="command must not be empty"):
        arguments.argv([], "command")
    with pytest.raises(ValueError, match="cannot be split"):
        arguments.argv("echo 'unclosed", "command")


def _flags(**overrides):
    values = dict(command=None, ports=None, env=None, volumes=None, name=None, labels=None,
                  entrypoint=None, user=None, workdir=None, network=None, hostname=None)
    values.update(overrides)
    return arguments.run_flags(**values)


def test_a_list_entrypoint_keeps_its_arguments_before_the_command():
    flags = _flags(entrypoint=["redis-server", "--port", "7000"], command=["--save", ""])
    assert flags["entrypoint"] == "redis-server"
    assert flags["command"] == ["--port", "7000", "--save", ""]
    assert _flags(entrypoint="")["entrypoint"] == ""


@pytest.mark.parametrize(("overrides", "error", "text"), [
    ({"name": "bad name"}, ValueError, "name 'bad name' is not valid"),
    ({"name": 3}, TypeError, "name must be a str"),
    ({"labels": {"a": 1}}, TypeError, "labels must map str to str"),
    ({"labels": ["a=b"]}, TypeError, "labels must be a dict"),
    ({"user": 1.0}, TypeError, "user must be a str"),
    ({"network": "bridge0"}, ValueError, "network must be one of"),
    ({"workdir": 1}, TypeError, "workdir must be a str"),
])
def test_bad_run_options_are_refused(overrides, error, text):
    with pytest.raises(error, match=text):
        _flags(**overrides)


def test_user_may_be_a_uid():
    assert _flags(user=1000)["user"] == "1000"
