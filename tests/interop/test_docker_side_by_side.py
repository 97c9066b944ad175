"""minidock beside the real Docker (20.10, a private daemon): the same inputs, the same
output, modulo what legitimately differs. Each such difference is one rule below,
applied to both sides by `normalize`; docs/docker-differences.md lists them with why.

Rules:
- IDS: image and container IDs (12 or 64 hex digits) differ: the image configs carry
  different creation times, and container IDs are random.
- AGO: relative times ("3 seconds ago") differ by when each side ran; the columns'
  padding that follows from their width is not compared (rows are compared by cells).
- DAEMON: the context line names the receiver: "Docker daemon" there, "minidock" here,
  which has no daemon; the size is the same tar-stream size.
- PROG: usage texts name the program: "docker" there, "minidock" here.
- CR: docker ends its context line with "\r\r\n" (a progress line redrawn in place on
  a terminal); minidock prints a plain line. Carriage returns are dropped.
- HASH: the source hash in a COPY/ADD history line (`COPY file:<hex> in /dest `):
  Docker's classic builder hashes a tar header of its own making with the content,
  minidock hashes the content and metadata; the kind (file, dir, multi) is compared.
- FRAME: an error's first line is framed by who reports it: docker writes
  "docker: Error response from daemon: ", "Error response from daemon: " or "Error: ",
  minidock "Error: " or "Error: failed to start container: "; the framing, the runtime
  layers docker adds ("failed to create shim task: OCI runtime create failed: runc
  create failed: unable to start container process: ", ": unknown") and the final
  period are dropped before the message is compared.
- PULL: docker's `run` is always given `--pull never` (it must not reach a registry
  here); minidock's `run` has no `--pull` flag and is given the same arguments without
  it. Its pull policy is docker's default, "missing", so an unknown image is compared
  with docker's documented first line for that policy, the registry being a closed
  loopback port (MINIDOCK_REGISTRY_MIRROR).
- DOCKERENV: docker puts an empty /.dockerenv into every container; it is left out of
  the file trees compared.
- PEER: the access-log line's client address and date differ (Docker's userland proxy
  connects from its bridge, minidock's from loopback); method, path, status, size and
  user agent are compared.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dockerd import IMAGES, Dockerd
from tutorial_project import write_first_project

pytestmark = pytest.mark.root

HEX_ID = re.compile(r"\b(sha256:)?([0-9a-f]{64}|[0-9a-f]{12})\b")
AGO = re.compile(r"\b(Less than a second|About a minute|About an hour|\d+ [a-z]+) ago\b")
FETCH_DEADLINE = 30.0


def normalize(text: str) -> str:
    """Both sides' output with the rules IDS, AGO, DAEMON, PROG, CR and HASH applied."""
    text = text.replace("\r", "")
    text = re.sub(r"\b(COPY|ADD) (file|dir|multi):[0-9a-f]+", r"\1 \2:<hash>", text)
    text = HEX_ID.sub(lambda m: (m.group(1) or "") + "<id>", text)
    text = AGO.sub("<time> ago", text)
    text = text.replace("to Docker daemon  ", "to minidock  ")
    return re.sub(r"\bdocker\b", "minidock", text)


def rows(text: str) -> list[list[str]]:
    """A normalized table: a list of each line's cells (columns are 2+ spaces apart)."""
    return [re.split(r"\s{2,}", line.strip()) for line in normalize(text).splitlines()]


class Minidock:
    """The minidock CLI against one store, as a user types it."""

    def __init__(self, root: Path):
        # a registry that refuses at once: nothing leaves the machine (rule PULL)
        self.env = {**os.environ, "MINIDOCK_ROOT": str(root),
                    "MINIDOCK_REGISTRY_MIRROR": f"127.0.0.1:{free_port()}"}
        self.env.pop("SOURCE_DATE_EPOCH", None)

    def cli(self, *args: str, cwd: Path | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "minidock", *args], env=self.env,
                                cwd=cwd, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"minidock {' '.join(args)}: {result.returncode}\n"
                                 f"{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "minidock", *args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def minidock(tmp_path_factory: pytest.TempPathFactory) -> Minidock:
    """A store holding the fixture images the daemon holds."""
    md = Minidock(tmp_path_factory.mktemp("minidock-store"))
    for stem in ("busybox-latest", "nginx-stable"):
        md.cli("load", "-i", str(IMAGES / f"{stem}.oci.tar"))
    return md


def docker_build(dockerd: Dockerd, context: Path, *args: str) -> str:
    """`docker build` with the classic builder (the tutorial's output), never pulling."""
    result = subprocess.run(
        ["/usr/bin/docker", "-H", f"unix://{dockerd.socket}", "build", *args, str(context)],
        capture_output=True, check=False,
        env={**os.environ, "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(dockerd.base / "config")})
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def built_id(output: str) -> str:
    return re.findall(r"Successfully built ([0-9a-f]{12})", output)[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(command: list[str], proc: subprocess.Popen[bytes]) -> str:
    """The page `command` (curl) gets once the container serves it."""
    deadline = time.monotonic() + FETCH_DEADLINE
    while True:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return result.stdout
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"the container ended ({proc.returncode}): {out}")
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.2)


def interrupt(proc: subprocess.Popen[bytes]) -> str:
    """Ctrl-C, as the tutorial stops `run --rm`; the container's output."""
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out.decode(errors="replace")


def access_line(log: str) -> str:
    """The access-log line of the one request, with the rule PEER applied."""
    lines = [line for line in log.splitlines() if '"GET / HTTP/' in line]
    assert len(lines) == 1, log
    return re.sub(r"^\S+ - - \[[^]]+\]", "<peer> - - [<date>]", lines[0])


def test_tutorial(dockerd: Dockerd, minidock: Minidock, tmp_path: Path) -> None:
    """The tutorial, step by step, on both."""
    project = tmp_path / "docker-nginx-test"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM nginx:stable\n")
    theirs = docker_build(dockerd, project)
    ours = minidock.cli("build", ".", cwd=project).stdout
    assert normalize(ours).splitlines() == normalize(theirs).splitlines()
    assert "Sending build context to minidock  2.048kB" in ours

    with (project / "Dockerfile").open("a") as f:
        f.write("EXPOSE 443\n")
    theirs = docker_build(dockerd, project)
    ours = minidock.cli("build", ".", cwd=project).stdout
    assert normalize(ours).splitlines() == normalize(theirs).splitlines()
    docker_child, our_child = built_id(theirs), built_id(ours)

    # history: the base image's ID on its own last row, <missing> below it
    theirs_history = dockerd.cli("history", docker_child).stdout
    ours_history = minidock.cli("history", our_child).stdout
    assert rows(ours_history) == rows(theirs_history)
    assert [row[0] for row in rows(ours_history)[1:4]] == ["<id>", "<id>", "<missing>"]
    for listing in (["images"], ["image", "ls"]):
        assert rows(minidock.cli(*listing).stdout) == rows(dockerd.cli(*listing).stdout)

    # `image` alone: the listing of its commands, and success
    theirs_usage, ours_usage = dockerd.cli("image"), minidock.cli("image")
    assert (ours_usage.returncode, ours_usage.stdout) == (0, "")
    assert ours_usage.stderr == normalize(theirs_usage.stderr)

    # run with a published port: the page, and the access-log line on the terminal
    docker_run = subprocess.Popen(
        ["/usr/bin/docker", "-H", f"unix://{dockerd.socket}", "run", "--rm", "--pull",
         "never", "-p", "8080:80", docker_child], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    theirs_page = fetch(dockerd.in_netns("curl", "-fsS", "http://localhost:8080/"),
                        docker_run)
    port = free_port()
    our_run = minidock.popen("run", "--rm", "-p", f"{port}:80", our_child)
    ours_page = fetch(["curl", "-fsS", f"http://localhost:{port}/"], our_run)
    assert ours_page == theirs_page
    time.sleep(0.5)  # nginx writes the access log after the response
    assert access_line(interrupt(our_run)) == access_line(interrupt(docker_run))
    assert rows(minidock.cli("ps", "-a").stdout) == rows(dockerd.cli("ps", "-a").stdout)

    # rmi: the child, then the base with its tag
    assert rows(minidock.cli("rmi", our_child).stdout) == rows(
        dockerd.cli("rmi", docker_child).stdout)

    assert rows(minidock.cli("rmi", "nginx:stable").stdout) == rows(
        dockerd.cli("rmi", "nginx:stable").stdout)
    assert rows(minidock.cli("images").stdout) == rows(dockerd.cli("images").stdout)
    minidock.cli("load", "-i", str(IMAGES / "nginx-stable.oci.tar"))  # for the tests below
    dockerd.load_fixture_images()


def test_tutorial_first_dockerfile(dockerd: Dockerd, minidock: Minidock, tmp_path: Path
                                   ) -> None:
    """The tutorial's Dockerfile with COPY and VOLUME: the build, history and the rmi."""
    project = tmp_path / "docker-nginx-test"
    write_first_project(project)
    theirs = docker_build(dockerd, project, "-t", "nginx-test")
    ours = minidock.cli("build", "-t", "nginx-test", ".", cwd=project).stdout
    assert normalize(ours).splitlines() == normalize(theirs).splitlines()
    assert rows(minidock.cli("history", "nginx-test").stdout) == rows(
        dockerd.cli("history", "nginx-test").stdout)
    assert rows(minidock.cli("rmi", "nginx-test").stdout)[0] == ["Untagged: nginx-test:latest"]
    dockerd.cli("rmi", "nginx-test")


# keys of `inspect` documents Docker has and minidock does not (docs/docker-differences.md)
IMAGE_KEYS_MINIDOCK_LACKS = {".GraphDriver"}
CONTAINER_KEYS_MINIDOCK_LACKS = {".ExecIDs", ".NetworkSettings.Networks.bridge"} | {
    f".HostConfig.{key}" for key in (
        "ContainerIDFile VolumeDriver VolumesFrom CapAdd CapDrop CgroupnsMode Dns DnsOptions "
        "DnsSearch ExtraHosts GroupAdd IpcMode Cgroup Links OomScoreAdj PidMode SecurityOpt "
        "UTSMode UsernsMode ShmSize Runtime ConsoleSize Isolation CpuShares Memory NanoCpus "
        "CgroupParent BlkioWeight BlkioWeightDevice BlkioDeviceReadBps BlkioDeviceWriteBps "
        "BlkioDeviceReadIOps BlkioDeviceWriteIOps CpuPeriod CpuQuota CpuRealtimePeriod "
        "CpuRealtimeRuntime CpusetCpus CpusetMems Devices DeviceCgroupRules DeviceRequests "
        "KernelMemory KernelMemoryTCP MemoryReservation MemorySwap MemorySwappiness "
        "OomKillDisable PidsLimit Ulimits CpuCount CpuPercent IOMaximumIOps "
        "IOMaximumBandwidth MaskedPaths ReadonlyPaths").split()} | {
    f".NetworkSettings.{key}" for key in (
        "Bridge SandboxID HairpinMode LinkLocalIPv6Address LinkLocalIPv6PrefixLen "
        "SecondaryIPAddresses SecondaryIPv6Addresses EndpointID Gateway GlobalIPv6Address "
        "GlobalIPv6PrefixLen IPPrefixLen IPv6Gateway MacAddress").split()}


def key_differences(theirs: Any, ours: Any, path: str = "") -> tuple[set[str], list[str]]:
    """(keys only Docker's document has, paths whose JSON types differ), recursively;
    a null on either side matches any type (Docker and minidock leave different
    optional values unset)."""
    lacking: set[str] = set()
    types: list[str] = []
    if theirs is None or ours is None:
        return lacking, types
    if type(theirs) is not type(ours):
        return lacking, [f"{path}: {type(theirs).__name__} != {type(ours).__name__}"]
    if isinstance(theirs, dict):
        for key, value in theirs.items():
            if key not in ours:
                lacking.add(f"{path}.{key}")
                continue
            more_lacking, more_types = key_differences(value, ours[key], f"{path}.{key}")
            lacking |= more_lacking
            types += more_types
    return lacking, types


def test_inspect_documents(dockerd: Dockerd, minidock: Minidock) -> None:
    """Same keys, same JSON types, but for the keys written down above."""
    theirs = json.loads(dockerd.cli("inspect", "nginx:stable").stdout)[0]
    ours = json.loads(minidock.cli("inspect", "nginx:stable").stdout)[0]
    assert key_differences(theirs, ours) == (IMAGE_KEYS_MINIDOCK_LACKS, [])
    dockerd.cli("create", "--pull", "never", "--name", "inspected", "busybox")
    minidock.cli("create", "--name", "inspected", "busybox")
    try:
        theirs = json.loads(dockerd.cli("inspect", "inspected").stdout)[0]
        ours = json.loads(minidock.cli("inspect", "inspected").stdout)[0]
        assert key_differences(theirs, ours) == (CONTAINER_KEYS_MINIDOCK_LACKS, [])
    finally:
        dockerd.cli("rm", "inspected")
        minidock.cli("rm", "inspected")


def test_format_templates(dockerd: Dockerd, minidock: Minidock) -> None:
    """`images` and `ps -a` with --format templates: the same text."""
    images_format = "{{.Repository}}:{{.Tag}} {{.Size}} {{.CreatedSince}} {{.ID}}"
    assert normalize(minidock.cli("images", "--format", images_format).stdout) == normalize(
        dockerd.cli("images", "--format", images_format).stdout)
    assert minidock.cli("images", "--format", "table {{.Repository}}\t{{.Tag}}").stdout == (
        dockerd.cli("images", "--format", "table {{.Repository}}\t{{.Tag}}").stdout)
    dockerd.cli("run", "--pull", "never", "--name", "formatted", "busybox", "true")
    minidock.cli("run", "--name", "formatted", "busybox", "true")
    try:
        ps_format = "{{.Names}} {{.Image}} {{.Command}} {{.Status}} {{.Ports}}"
        assert normalize(minidock.cli("ps", "-a", "--format", ps_format).stdout) == normalize(
            dockerd.cli("ps", "-a", "--format", ps_format).stdout)
    finally:
        dockerd.cli("rm", "formatted")
        minidock.cli("rm", "formatted")


FRAMES = re.compile(r"^(minidock: )?(Error response from daemon: |Error: )?"
                    r"(failed to create shim task: OCI runtime create failed: runc create "
                    r"failed: unable to start container process: |failed to start container: )?")


def first_error_line(stderr: str) -> str:
    """The first line of an error, with the rule FRAME applied (after PROG)."""
    line = normalize(stderr).splitlines()[0]
    return FRAMES.sub("", line).removesuffix(".").removesuffix(": unknown")


BAD_INPUTS = {
    "unknown image": ["run", "--rm", "--pull", "never", "nosuchimage:1"],
    "bad flag of run": ["run", "--rm", "--bogus", "busybox"],
    "bad flag": ["images", "--bogus"],
    "bad shorthand flag": ["images", "-z"],
    "missing command": ["run", "--rm", "--pull", "never", "busybox", "nosuchcommand"],
    "not executable": ["run", "--rm", "--pull", "never", "busybox", "/etc/passwd"],
    "rm -f of a missing container": ["rm", "-f", "nosuchcontainer"],
    "rmi of a missing image": ["rmi", "nosuchimage"],
    "inspect of nothing": ["inspect", "nosuchthing"],
}


def without_pull_never(args: list[str]) -> list[str]:
    """The rule PULL: docker's arguments less `--pull never`."""
    if "--pull" in args:
        at = args.index("--pull")
        return args[:at] + args[at + 2:]
    return args


@pytest.mark.parametrize("args", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_inputs(dockerd: Dockerd, minidock: Minidock, args: list[str]) -> None:
    """The same exit code and the same first error line."""
    theirs = dockerd.cli(*args, check=False)
    ours = minidock.cli(*without_pull_never(args), check=False)
    expected = first_error_line(theirs.stderr)
    if args == BAD_INPUTS["unknown image"]:  # the rule PULL
        assert expected == "No such image: nosuchimage:1"
        expected = "Unable to find image 'nosuchimage:1' locally"
    assert (ours.returncode, first_error_line(ours.stderr)) == (theirs.returncode, expected)


TREE = ("find / -xdev \\( -path /.dockerenv -o -path /proc -o -path /sys -o -path /dev -o "
        "-path /etc/hosts -o -path /etc/hostname -o -path /etc/resolv.conf \\) -prune -o "
        "-exec stat -c '%n %F %s %a %u:%g' {} + | sort")
IMAGE_FIELDS = "{{json .Config.Cmd}} {{json .Config.Env}} {{json .Config.ExposedPorts}} " \
    "{{json .Config.Volumes}}"


def test_save_and_load_both_ways(dockerd: Dockerd, minidock: Minidock, tmp_path: Path
                                 ) -> None:
    """minidock's image runs under Docker and Docker's under minidock: the same Cmd, Env,
    ExposedPorts, Volumes, output and file tree on both."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "a.txt").write_text("hello\n")
    (project / "Dockerfile").write_text(
        "FROM busybox\nENV GREETING=hi\nCOPY a.txt /srv/\nRUN mkdir -p /srv/made && "
        "ln -s ../a.txt /srv/made/link\nVOLUME /data\nEXPOSE 8080\n"
        'CMD ["sh", "-c", "echo $GREETING; cat /srv/made/link"]\n')
    minidock.cli("build", "-q", "-t", "by-minidock", ".", cwd=project)
    docker_build(dockerd, project, "-q", "-t", "by-docker")
    minidock.cli("save", "-o", str(tmp_path / "by-minidock.tar"), "by-minidock")
    dockerd.cli("save", "-o", str(tmp_path / "by-docker.tar"), "by-docker")
    dockerd.cli("load", "-i", str(tmp_path / "by-minidock.tar"))
    minidock.cli("load", "-i", str(tmp_path / "by-docker.tar"))
    try:
        for image in ("by-minidock", "by-docker"):
            fields = dockerd.cli("inspect", "-f", IMAGE_FIELDS, image).stdout
            assert minidock.cli("inspect", "-f", IMAGE_FIELDS, image).stdout == fields
            assert "GREETING=hi" in fields and '"8080/tcp"' in fields
            output = dockerd.cli("run", "--rm", "--pull", "never", image).stdout
            assert output == "hi\nhello\n"
            assert minidock.cli("run", "--rm", image).stdout == output
            tree = dockerd.cli("run", "--rm", "--pull", "never", image, "sh", "-c", TREE)
            assert "/srv/made/link symbolic link" in tree.stdout
            assert minidock.cli("run", "--rm", image, "sh", "-c", TREE).stdout == tree.stdout
    finally:
        for image in ("by-minidock", "by-docker"):
            dockerd.cli("rmi", image)
            minidock.cli("rmi", image)
