"""Readiness waits: log lines, listening ports, HTTP answers, and how they fail."""

from __future__ import annotations

import re

import pytest

from minidock import waits
from minidock.errors import WaitTimeout

# 30 numbered lines, then silence: a wait that fails must show lines 11 to 30
CHATTY = "for i in $(seq 1 30); do echo line $i; done; echo ready >&2; exec sleep 60"


def test_wait_for_log_returns_the_match(store):
    with store.run("busybox:latest", ["sh", "-c", "sleep 0.2; echo 'listening on 4242'; "
                                      "exec sleep 60"], detach=True) as box:
        match = box.wait_for_log(r"listening on (\d+)", timeout=10)
        assert match.group(1) == "4242"
        # a compiled pattern and a line written to stderr
        assert box.wait_for_log(re.compile("^listening"), timeout=1).group(0) == "listening"


def test_a_timed_out_log_wait_names_container_condition_and_last_20_lines(store):
    with store.run("busybox:latest", ["sh", "-c", CHATTY], detach=True) as box:
        box.wait_for_log("^ready$", timeout=10)
        with pytest.raises(WaitTimeout) as caught:
            box.wait_for_log("never printed", timeout=0.3)
    error = caught.value
    message = str(error)
    first = message.splitlines()[0]
    assert first == (f"container {box.name} ({box.short_id}): timed out after 0.3 s waiting "
                     "for a log line matching 'never printed'")
    assert error.container == box.name
    assert error.condition == "a log line matching 'never printed'"
    assert error.log_lines == [f"line {i}" for i in range(12, 31)] + ["ready"]
    assert "line 11\n" not in message and "    line 12\n" in message
    assert message.endswith("    ready")


def test_a_wait_ends_at_once_when_the_container_exits(store):
    with store.run("busybox:latest", ["sh", "-c", "echo giving up; exit 3"],
                   detach=True) as box:
        with pytest.raises(WaitTimeout) as caught:
            box.wait_for_log("ready", timeout=30)
        assert "the container exited with code 3 while waiting for a log line" in \
            str(caught.value)
        assert caught.value.log_lines == ["giving up"]


def test_wait_for_port_sees_a_listener_inside_the_container(store):
    # httpd starts listening only after a pause; the port is not even published
    with store.run("busybox:latest", ["sh", "-c", "sleep 0.3; exec httpd -f -p 7000"],
                   detach=True) as box:
        box.wait_for_port(7000, timeout=10)
        assert waits._listening(box.pid, 7000)
        with pytest.raises(WaitTimeout, match="waiting for TCP port 7001 to listen"):
            box.wait_for_port(7001, timeout=0.3)


def test_a_published_port_is_not_ready_before_the_service_listens(store):
    """The host side of a published port accepts at once; readiness must not trust it."""
    with store.run("busybox:latest", ["sh", "-c", "sleep 60"], detach=True,
                   ports={7000: None}) as box:
        with pytest.raises(WaitTimeout):
            box.wait_for_port(7000, timeout=0.3)
        with pytest.raises(WaitTimeout) as caught:
            box.wait_for_http("/", timeout=0.3)
        assert f"GET http://127.0.0.1:{box.host_port(7000)}/ to answer HTTP 200" in \
            str(caught.value)


def test_wait_for_http_status_and_the_last_answer(store):
    with store.run("nginx:stable", detach=True, ports={80: None}) as web:
        assert web.wait_for_http("/", timeout=10) == 200
        assert web.wait_for_http("/missing", status=404, timeout=10) == 404
        assert web.wait_for_http("/missing", status={200, 404}, port=80, timeout=10) == 404
        with pytest.raises(WaitTimeout) as caught:
            web.wait_for_http("/missing", timeout=0.3)
        assert "to answer HTTP 200 (last: HTTP 404)" in str(caught.value).splitlines()[0]


@pytest.mark.parametrize(("call", "error", "text"), [
    (lambda c: c.wait_for_log(b"x"), TypeError, "pattern must be a str or re.Pattern"),
    (lambda c: c.wait_for_log(re.compile(b"x")), TypeError, "not a bytes one"),
    (lambda c: c.wait_for_log("x", timeout="1"), TypeError, "timeout must be a number"),
    (lambda c: c.wait_for_log("x", timeout=-1), ValueError, "must not be negative"),
    (lambda c: c.wait_for_port("80"), TypeError, "port must be an int"),
    (lambda c: c.wait_for_port(0), ValueError, "out of range"),
    (lambda c: c.wait_for_http("index.html"), ValueError, "path must start with '/'"),
    (lambda c: c.wait_for_http(b"/"), TypeError, "path must be a str"),
    (lambda c: c.wait_for_http("/", status=True), TypeError, "not bool"),
    (lambda c: c.wait_for_http("/", status="200"), TypeError, "collection of ints"),
    (lambda c: c.wait(timeout="soon"), TypeError, "timeout must be a number"),
    (lambda c: c.logs(tail="5"), TypeError, "tail must be an int"),
])
def test_wrong_wait_arguments(store, call, error, text):
    with store.run("busybox:latest", ["sleep", "60"], detach=True, ports={80: None}) as box:
        with pytest.raises(error, match=text):
            call(box)


def test_logs_tail_and_streams(store):
    with store.run("busybox:latest", ["sh", "-c", CHATTY], detach=True) as box:
        box.wait_for_log("^ready$", timeout=10)
        assert box.logs(tail=2) == "line 30\nready\n"
        assert box.logs(stdout=False) == "ready\n"
        assert box.logs(stderr=False).splitlines()[-1] == "line 30"
