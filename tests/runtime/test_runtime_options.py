"""Flag values, process specs and user resolution: the pure parts of `run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from minidock.cli.containers import command_text
from minidock.cli.run import HelpRequested, parse_run_args, run_settings
from minidock.errors import RuntimeError_, UsageError
from minidock.runtime.clock import now_iso, parse_iso
from minidock.runtime.options import (
    MountSpec,
    PortBinding,
    merge_env,
    network_mode,
    parse_env,
    parse_publish,
    parse_signal,
    parse_volume,
    read_env_file,
)
from minidock.runtime.spec import DEFAULT_PATH, SandboxSpec, image_process
from minidock.runtime.users import resolve_user


@pytest.mark.parametrize(("spec", "expected"), [
    ("8080:80", [PortBinding("", 8080, 80)]),
    ("80", [PortBinding("", 0, 80)]),
    ("0:80", [PortBinding("", 0, 80)]),
    ("127.0.0.1:8080:80", [PortBinding("127.0.0.1", 8080, 80)]),
    ("127.0.0.1::80", [PortBinding("127.0.0.1", 0, 80)]),
    ("[::1]:8080:80/tcp", [PortBinding("::1", 8080, 80)]),
    ("8000-8001:80-81", [PortBinding("", 8000, 80), PortBinding("", 8001, 81)]),
])
def test_publish_specs(spec: str, expected: list[PortBinding]) -> None:
    assert parse_publish(spec) == expected


@pytest.mark.parametrize("spec", ["abc", "80:abc", "70000:80", "1:2:3:4", "8080:0",
                                  "nothost:8080:80", "8000-8002:80-81", "80/udp", "80/xyz"])
def test_bad_publish_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_publish(spec)
    assert info.value.exit_code == 125


@pytest.mark.parametrize(("spec", "expected"), [
    ("data:/data", MountSpec("volume", "data", "/data")),
    ("data:/data:ro", MountSpec("volume", "data", "/data", True)),
    ("/host/dir:/in/ctr", MountSpec("bind", "/host/dir", "/in/ctr")),
    ("/host//dir/:/x/:rw", MountSpec("bind", "/host/dir", "/x")),
    ("/anon", MountSpec("anonymous", "", "/anon")),
])
def test_volume_specs(spec: str, expected: MountSpec) -> None:
    assert parse_volume(spec) == expected


@pytest.mark.parametrize("spec", [":/x", "data:relative", "a:b:c:d", "/x:/", "bad name:/x",
                                  "data:/x:rx", "rel"])
def test_bad_volume_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_volume(spec)


def test_env_values_and_host_passthrough() -> None:
    host = {"HOME": "/root", "EMPTY": ""}
    assert parse_env(["A=1", "B=", "HOME", "MISSING", "EMPTY"], host) == \
        ["A=1", "B=", "HOME=/root", "EMPTY="]
    with pytest.raises(UsageError):
        parse_env(["=x"], host)


def test_env_file(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("# comment\n\nA=1\n  B=two words\nHOME\nQ=\"kept\"\n")
    assert read_env_file(str(path), {"HOME": "/h"}) == ["A=1", "B=two words", "HOME=/h",
                                                        'Q="kept"']
    path.write_text("BAD NAME=1\n")
    with pytest.raises(UsageError, match="whitespace"):
        read_env_file(str(path), {})
    with pytest.raises(UsageError):
        read_env_file(str(tmp_path / "missing"), {})


def test_merge_env_keeps_image_order() -> None:
    assert merge_env(["PATH=/bin", "A=1"], ["A=2", "B=3"]) == ["PATH=/bin", "A=2", "B=3"]


def test_docker_flag_syntax() -> None:
    opts = parse_run_args(["-dit", "--rm=false", "-p8080:80", "-e=A=1", "--env", "B=2",
                           "--name=web", "-v", "d:/d", "-u", "app", "img", "cmd", "-x", "--y"])
    assert (opts.detach, opts.interactive, opts.tty, opts.rm) == (True, True, True, False)
    assert opts.publish == ["8080:80"] and opts.env == ["A=1", "B=2"]
    assert (opts.name, opts.volumes, opts.user) == ("web", ["d:/d"], "app")
    assert (opts.image, opts.command) == ("img", ["cmd", "-x", "--y"])
    opts = parse_run_args(["--rm", "--", "img", "--rm"])
    assert opts.rm and opts.command == ["--rm"]
    with pytest.raises(HelpRequested):
        parse_run_args(["--help"])
    for bad in (["--nope", "img"], ["-Z", "img"], ["--name"], [], ["--rm=maybe", "img"],
                ["--stop-timeout", "x", "img"]):
        with pytest.raises(UsageError):
            parse_run_args(bad)
    with pytest.raises(UsageError):
        parse_run_args(["-d", "img"], "create")


def test_process_from_image_follows_docker_rules() -> None:
    config = {"config": {"Entrypoint": ["/ep"], "Cmd": ["a", "b"], "Env": ["X=1"],
                         "WorkingDir": "/w", "User": "app"}}

    def proc(**kw):  # type: ignore[no-untyped-def]
        args = dict(command=[], entrypoint=None, env=[], workdir=None, user=None, tty=False,
                    hostname="h")
        args.update(kw)
        return image_process(config, **args)

    assert proc().args == ["/ep", "a", "b"]
    assert proc(command=["c"]).args == ["/ep", "c"]
    assert proc(entrypoint="/other").args == ["/other"]
    assert proc(entrypoint="", command=["sh"]).args == ["sh"]
    p = proc(env=["X=2"], workdir="/x", user="0", tty=True)
    assert p.env == [f"PATH={DEFAULT_PATH}", "X=2", "HOSTNAME=h", "TERM=xterm"]
    assert (p.cwd, p.user, p.tty) == ("/x", "0", True)
    assert (proc().cwd, proc().user) == ("/w", "app")
    with pytest.raises(UsageError, match="no command"):
        image_process({"config": {}}, command=[], entrypoint=None, env=[], workdir=None,
                      user=None, tty=False, hostname="h")


def test_sandbox_spec_round_trips_through_json() -> None:
    config = {"config": {"Cmd": ["sh"]}}
    process = image_process(config, command=[], entrypoint=None, env=[], workdir=None,
                            user=None, tty=False, hostname="h")
    from minidock.runtime.spec import BindMount

    spec = SandboxSpec("id", "/b", "overlay", "h", process, mounts=[BindMount("/s", "/t", True)])
    assert SandboxSpec.from_json(spec.to_json()) == spec


def test_resolve_user(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text(
        "root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nwheel:x:10:root\n")
    root = str(tmp_path)
    user = resolve_user("app", root)
    assert (user.uid, user.gid, user.groups, user.home) == (1000, 1000, (1000, 50), "/home/app")
    assert resolve_user("", root).groups == (0, 10)
    assert resolve_user("1000:staff", root).gid == 50
    numeric = resolve_user("4242:7", root)
    assert (numeric.uid, numeric.gid, numeric.home) == (4242, 7, "/")
    assert resolve_user("4242", root).gid == 0
    with pytest.raises(RuntimeError_, match="unable to find user nosuch"):
        resolve_user("nosuch", root)
    with pytest.raises(RuntimeError_, match="unable to find group nogroup"):
        resolve_user("app:nogroup", root)


def test_signals_and_networks() -> None:
    assert parse_signal("SIGQUIT") == parse_signal("quit") == parse_signal("3") == 3
    assert parse_signal(None) == 15
    for bad in ("SIGNOPE", "0", "99", "kill -9"):
        with pytest.raises(UsageError):
            parse_signal(bad)
    assert network_mode("bridge") == "private" and network_mode("none") == "none"
    with pytest.raises(UsageError):
        network_mode("mynet")


def test_timestamps_and_command_text() -> None:
    stamp = now_iso(1_700_000_000_123_456_789)
    assert stamp == "2023-11-14T22:13:20.123456789Z"
    assert parse_iso(stamp) == pytest.approx(1_700_000_000.123456789)
    assert parse_iso("0001-01-01T00:00:00Z") == 0.0
    assert command_text(["nginx", "-g", "daemon off;"]) == "nginx -g 'daemon off;'"


@pytest.mark.parametrize("env", [
    {"MINIDOCK_ROOT": "/srv/store", "MINIDOCK_STORAGE_DRIVER": "copy"},
    {"MINIDOCK_ROOT": "relative/store"},
    {"XDG_DATA_HOME": "/data", "HOME": "/home/u"},
    {"HOME": "/home/u", "MINIDOCK_STORAGE_DRIVER": ""},
    {},
])
def test_run_reads_the_same_settings_as_the_rest(env: dict[str, str]) -> None:
    from minidock.settings import Settings

    full = Settings.from_env(env)
    light = run_settings(env)
    assert (light.root, light.storage_driver) == (str(full.root), full.storage_driver)
