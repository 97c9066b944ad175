"""Containers through the API: run, ports, logs, exec, stop, wait, remove, clean-up."""

from __future__ import annotations

import urllib.request

import pytest

import minidock
from minidock.api import Container, ExecResult, RunResult
from minidock.errors import (
    CommandNotFound,
    ConflictError,
    ContainerNotFound,
    ImageNotFound,
    NotFoundError,
    WaitTimeout,
)
from minidock.runtime.containers import all_ids


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_a_detached_nginx_from_start_to_removal(store):
    web = store.run("nginx:stable", detach=True, ports={80: None})
    try:
        assert isinstance(web, Container)
        assert web.status == "running" and web.running
        assert len(web.id) == 64 and web.short_id == web.id[:12] and web.name
        assert web.image == "nginx:stable"
        port = web.host_port(80)
        assert port > 0 and web.endpoint(80) == ("127.0.0.1", port)
        assert {address for address, _ in web.ports[80]} <= {"0.0.0.0", "::"}
        assert web.wait_for_http("/") == 200
        status, body = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and "nginx" in body
        assert "start worker processes" in web.logs()
        assert store.container(web.name).id == web.id
    finally:
        web.stop()
    assert web.status == "exited" and web.exit_code == 0
    web.remove()
    assert web.status == "removed" and web.exit_code is None
    web.remove()  # already gone: nothing to do
    with pytest.raises(ContainerNotFound):
        store.container(web.id)


def test_the_context_manager_removes_the_container_even_on_error(store):
    with pytest.raises(ZeroDivisionError):
        with store.run("busybox:latest", ["sleep", "60"], detach=True) as box:
            container_id = box.id
            assert box.running
            1 / 0  # noqa: B018
    assert container_id not in all_ids(store.root)


def test_a_foreground_run_returns_exit_code_and_output(store):
    result = store.run("busybox:latest", ["sh", "-c", "echo out; echo err >&2; exit 3"],
                       remove=True)
    assert isinstance(result, RunResult)
    assert result == (3, "out\nerr\n")
    kept = store.run("busybox:latest", "echo kept", name="api-foreground-kept")
    assert kept == (0, "kept\n")
    container = store.container("api-foreground-kept")
    assert container.status == "exited"
    container.remove()


def test_run_options_reach_the_container(store, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)  # writable for the container's user 1000
    (data / "f").write_text("from the host\n")
    script = "echo $GREETING; id -u; pwd; cat /data/f; hostname; touch /data/new"
    result = store.run("busybox:latest", ["sh", "-c", script], remove=True,
                       env={"GREETING": "hello"}, volumes={data: "/data"}, user=1000,
                       workdir="/tmp", hostname="api-host")
    assert result == (0, "hello\n1000\n/tmp\nfrom the host\napi-host\n")
    assert (data / "new").exists()
    readonly = store.run("busybox:latest", ["touch", "/data/other"], remove=True,
                         volumes={data: {"bind": "/data", "mode": "ro"}})
    assert readonly.exit_code != 0 and "Read-only file system" in readonly.output
    entry = store.run("busybox:latest", ["-c", "echo via entrypoint"],
                      entrypoint=["sh"], remove=True)
    assert entry == (0, "via entrypoint\n")


def test_names_and_labels(store):
    with store.run("busybox:latest", ["sleep", "60"], detach=True, name="api-named",
                   labels={"suite": "api", "role": "a"}) as box:
        assert box.name == "api-named"
        assert box.labels == {"suite": "api", "role": "a"}
        with pytest.raises(ConflictError, match="api-named"):
            store.run("busybox:latest", ["true"], detach=True, name="api-named")
        assert [c.id for c in store.containers(labels={"suite": "api"})] == [box.id]
        assert store.containers(labels={"suite": "other"}) == []
    assert store.containers(labels={"suite": "api"}) == []


def test_exec_returns_exit_code_and_output(store):
    with store.run("busybox:latest", ["sleep", "60"], detach=True) as box:
        result = box.exec(["sh", "-c", "echo one; echo two >&2; exit 5"])
        assert isinstance(result, ExecResult)
        assert result == (5, "one\ntwo\n")
        assert box.exec("sh -c 'echo $X; id -u; pwd'", env={"X": "y"}, user=1000,
                        workdir="/tmp") == (0, "y\n1000\n/tmp\n")
        with pytest.raises(CommandNotFound):
            box.exec(["no-such-command"])
        with pytest.raises(TypeError, match="cmd must be a str or a list of str"):
            box.exec(5)  # type: ignore[arg-type]
        box.kill()
        with pytest.raises(ConflictError, match="not running"):
            box.exec(["true"])


def test_wait_returns_the_exit_code_or_times_out(store):
    script = "trap 'exit 42' TERM; echo waiting; while true; do sleep 0.05; done"
    with store.run("busybox:latest", ["sh", "-c", script], detach=True) as box:
        box.wait_for_log("waiting")
        with pytest.raises(WaitTimeout) as caught:
            box.wait(timeout=0.2)
        message = str(caught.value)
        assert box.name in message and "the container to exit" in message
        assert "timed out after 0.2 s" in message and "waiting" in message
        box.kill("SIGTERM")  # the script's trap makes it exit 42
        assert box.wait(timeout=10) == 42
    with store.run("busybox:latest", ["sh", "-c", "exit 7"], detach=True) as box:
        assert box.wait() == 7


def test_stop_and_remove(store):
    box = store.run("busybox:latest", ["sleep", "60"], detach=True)
    with pytest.raises(ConflictError, match="cannot remove a running container"):
        box.remove()
    box.stop(timeout=0)
    assert box.status == "exited" and box.exit_code == 137
    box.stop()  # stopping an ended container is nothing to do
    box.start()
    assert box.running
    box.remove(force=True)
    assert box.status == "removed"


def test_a_detached_container_with_remove_goes_when_it_ends(store):
    box = store.run("busybox:latest", ["sh", "-c", "sleep 0.2"], detach=True, remove=True)
    with pytest.raises(ContainerNotFound):
        box.wait(timeout=10)  # it ended and was removed: its exit code went with it
    assert box.status == "removed"


def test_a_container_that_cannot_start_is_not_left_behind(store):
    with pytest.raises(CommandNotFound):
        store.run("busybox:latest", ["no-such-command"], detach=True)
    with pytest.raises(ImageNotFound) as caught:
        store.run("api-test/none:1")
    assert caught.value.hint and "load or pull" in caught.value.hint


def test_free_host_ports_differ_and_addresses_can_be_chosen(store):
    with store.run("nginx:stable", detach=True, ports={80: ("127.0.0.1", None)}) as one, \
            store.run("nginx:stable", detach=True, ports=[80]) as two:
        assert one.ports[80] == [("127.0.0.1", one.host_port(80))]
        assert one.host_port(80) != two.host_port(80)
        for web in (one, two):
            web.wait_for_http("/")


def test_port_lookups_name_what_is_wrong(store):
    with store.run("busybox:latest", ["sleep", "60"], detach=True,
                   ports={8000: None, 8001: None}) as box:
        with pytest.raises(NotFoundError, match="No public port '9000/tcp' published"):
            box.host_port(9000)
        with pytest.raises(ValueError, match="publishes 2 ports .*8000, 8001.*say which"):
            box.endpoint()
        box.kill()
        with pytest.raises(NotFoundError) as caught:
            box.host_port(8000)
        assert caught.value.hint == "the container is exited"


def test_host_network_ports_are_the_hosts(store):
    with store.run("busybox:latest", ["sleep", "60"], detach=True, network="host") as box:
        assert box.endpoint(8080) == ("127.0.0.1", 8080)


def test_containers_lists_running_then_all(store):
    with store.run("busybox:latest", ["sleep", "60"], detach=True,
                   labels={"suite": "api-list"}) as running, \
            store.run("busybox:latest", ["true"], detach=True,
                      labels={"suite": "api-list"}) as ended:
        ended.wait(timeout=10)
        assert [c.id for c in store.containers(labels={"suite": "api-list"})] == [running.id]
        every = {c.id for c in store.containers(all=True, labels={"suite": "api-list"})}
        assert every == {running.id, ended.id}
        assert running.id in {c.id for c in minidock.containers(root=store.root)}


@pytest.mark.parametrize(("options", "error", "text"), [
    ({"detach": "yes"}, TypeError, "detach must be True or False"),
    ({"remove": 1}, TypeError, "remove must be True or False"),
    ({"ports": "80"}, TypeError, "ports must be a dict"),
    ({"env": {"A": None}}, TypeError, "env value of A"),
    ({"name": "no spaces"}, ValueError, "is not valid"),
])
def test_bad_run_arguments_create_nothing(store, options, error, text):
    with pytest.raises(error, match=text):
        store.run("busybox:latest", ["true"], **options)


def test_bad_image_arguments(store):
    with pytest.raises(TypeError, match="image must be a reference string or an Image"):
        store.run(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image must not be empty"):
        store.run("")
    image = store.image("busybox:latest")
    assert store.run(image, ["true"], remove=True) == (0, "")


def test_a_short_lived_run_with_published_ports_keeps_code_and_output(store):
    # the command may end before the port forwarder has asked for its first sockets
    for _ in range(5):
        result = store.run("busybox:latest", ["sh", "-c", "echo hi; exit 3"],
                           ports={80: None}, remove=True)
        assert result == (3, "hi\n")
        box = store.run("busybox:latest", ["sh", "-c", "echo hi; exit 3"],
                        ports={80: None}, detach=True)
        assert box.wait() == 3
        assert box.exit_code == 3
        box.remove()
