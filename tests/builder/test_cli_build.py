"""`minidock build` and `minidock builder prune` as a user types them."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from minidock.store.store import Image, Store


def minidock(store: Store, *args: str, stdin: bytes | None = None, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env or {}), "MINIDOCK_ROOT": str(store.root)}
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([sys.executable, "-m", "minidock", *args], input=stdin,
                          capture_output=True, env=env, cwd=cwd, check=False,
                          text=stdin is None)  # type: ignore[call-overload]


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "docker-nginx-test"
    (root / "conf.d").mkdir(parents=True)
    (root / "conf.d" / "upstream.conf").write_text("upstream app {}\n")
    (root / "Dockerfile").write_text("FROM busybox\nEXPOSE 443\n")
    return root


def test_classic_output(store: Store, busybox: Image, ctx: Path) -> None:
    result = minidock(store, "build", "-t", "nginx-test", str(ctx))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"Sending build context to minidock  \d+(\.\d+)?k?B", lines[0])
    assert lines[1] == "Step 1/2 : FROM busybox"
    assert lines[2] == f" ---> {busybox.short_id}"
    assert lines[3] == "Step 2/2 : EXPOSE 443"
    assert re.fullmatch(r" ---> Running in [0-9a-f]{12}", lines[4])
    assert lines[5] == f"Removing intermediate container {lines[4][-12:]}"
    image_id = lines[6][len(" ---> "):]
    assert re.fullmatch(r"[0-9a-f]{12}", image_id)
    assert lines[7:] == [f"Successfully built {image_id}", "Successfully tagged nginx-test:latest"]
    again = minidock(store, "build", str(ctx), cwd=ctx)
    assert " ---> Using cache" in again.stdout.splitlines()
    assert again.stdout.splitlines()[-1] == f"Successfully built {image_id}"


def test_quiet_iidfile_and_label(store: Store, busybox: Image, ctx: Path,
                                 tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    result = minidock(store, "build", "-q", "--iidfile", str(iid), "--label", "team=web",
                      str(ctx))
    assert result.returncode == 0, result.stderr
    image_id = result.stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    assert iid.read_text() == image_id
    assert store.image(image_id).config["config"]["Labels"] == {"team": "web"}


def test_dockerfile_and_context_from_stdin(store: Store, busybox: Image, ctx: Path) -> None:
    result = minidock(store, "build", "-q", "-f", "-", str(ctx),
                      stdin=b"FROM busybox\nCOPY conf.d/upstream.conf /etc/\n")
    assert result.returncode == 0, result.stderr
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(ctx, arcname=".")
    result = minidock(store, "build", "-q", "-", stdin=buf.getvalue())
    assert result.returncode == 0, result.stderr
    assert list((store.root / "tmp").iterdir()) == []


def test_errors_are_one_line(store: Store, busybox: Image, ctx: Path) -> None:
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY missing /x\n")
    result = minidock(store, "build", "-t", "never", str(ctx))
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: COPY failed: file not found in build context: missing"
    (ctx / "Dockerfile").write_text("FROM nosuch/image:1\n")
    result = minidock(store, "build", str(ctx))
    assert result.returncode != 0
    assert "nosuch/image:1" in result.stderr and "minidock load" in result.stderr
    result = minidock(store, "build", str(ctx / "nope"))
    assert result.returncode == 125
    assert store.find_image("never") is None


def test_failing_run_message(store: Store, busybox: Image, ctx: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("RUN needs root here")
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN false\n")
    result = minidock(store, "build", "-t", "never", str(ctx))
    assert result.returncode == 1
    assert result.stderr.strip() == "The command '/bin/sh -c false' returned a non-zero code: 1"


def test_unused_build_arg_warning(store: Store, busybox: Image, ctx: Path) -> None:
    result = minidock(store, "build", "--build-arg", "FOO=1", str(ctx))
    assert result.returncode == 0
    assert "[Warning] One or more build-args [FOO] were not consumed" in result.stdout


def test_duplicate_stage_name_warning(store: Store, busybox: Image, ctx: Path) -> None:
    (ctx / "Dockerfile").write_text("FROM busybox AS x\nFROM busybox AS x\nEXPOSE 1\n")
    result = minidock(store, "build", str(ctx))
    assert result.returncode == 0, result.stderr
    assert ('[Warning] Dockerfile:2: duplicate stage name "x": stage names should be unique '
            '(the later stage is used)') in result.stdout.splitlines()


def test_secret_and_ssh_flags(store: Store, busybox: Image, ctx: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("RUN needs root here")
    (tmp_path / "tok").write_text("from-file")
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    agent.bind(str(tmp_path / "agent.sock"))
    agent.listen(1)
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nRUN --mount=type=secret,id=a --mount=type=secret,id=b,env=B "
        "--mount=type=ssh echo \"$(cat /run/secrets/a) $B\" && test -S $SSH_AUTH_SOCK\n")
    try:
        result = minidock(store, "build", "--secret", f"id=a,src={tmp_path / 'tok'}",
                          "--secret", "id=b,env=SECRET_B", "--ssh", "default", str(ctx),
                          env={"SECRET_B": "from-env",
                               "SSH_AUTH_SOCK": str(tmp_path / "agent.sock")})
    finally:
        agent.close()
    assert result.returncode == 0, result.stderr
    assert "from-file from-env" in result.stdout.splitlines()
    bad = minidock(store, "build", "--secret", "id=a,src=/nonexistent", str(ctx))
    assert bad.returncode != 0
    assert bad.stderr.strip() == ("Error: secret a: cannot read /nonexistent: "
                                  "No such file or directory")


def test_builder_prune(store: Store, busybox: Image, ctx: Path) -> None:
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY conf.d /etc/conf.d\nEXPOSE 1\n")
    built = minidock(store, "build", "-q", str(ctx)).stdout.strip()
    minidock(store, "rmi", built)
    blobs_before = len(list((store.root / "blobs" / "sha256").iterdir()))
    result = minidock(store, "builder", "prune", "-f")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Total:")
    assert len(list((store.root / "blobs" / "sha256").iterdir())) < blobs_before
    assert store.cache.roots() == set()
    again = minidock(store, "build", str(ctx))
    assert "Using cache" not in again.stdout


def test_a_non_utf8_byte_in_a_dockerfile_builds(store: Store, busybox: Image,
                                                tmp_path: Path) -> None:
    context = tmp_path / "latin1"
    context.mkdir()
    (context / "Dockerfile").write_bytes(b"FROM busybox\nLABEL note=caf\xe9\n")
    # stdin given: the output is bytes, as the Dockerfile's byte comes back raw
    result = minidock(store, "build", "-t", "latin1", str(context), stdin=b"")
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    labels = minidock(store, "inspect", "-f", "{{json .Config.Labels}}", "latin1")
    assert labels.stdout.strip() == '{"note":"caf\ufffd"}'
    again = minidock(store, "build", "-t", "latin1", str(context), stdin=b"")
    assert b"Using cache" in again.stdout


def test_deeply_nested_substitutions_are_a_one_line_error(store: Store, busybox: Image,
                                                          tmp_path: Path) -> None:
    context = tmp_path / "nested"
    context.mkdir()
    depth = 10_000
    word = "${a:-" * depth + "x" + "}" * depth
    (context / "Dockerfile").write_text(f"FROM busybox\nARG a\nENV X={word}\n")
    result = minidock(store, "build", str(context))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and error[0].startswith("Error: Dockerfile:3: failed to process")
    assert error[0].endswith("variable substitutions nested too deeply")
