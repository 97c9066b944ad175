"""`images`, `history`, `tag`, `rmi` and `image prune` as a user sees them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_testkit import make_image, run_cli

from minidock.cli.output import human_size, human_size4
from minidock.store.store import Image, Store


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _container_using(root: Path, image: Image, name: str = "web") -> None:
    """A container record as the runtime writes it (only what image accounting reads)."""
    cid = (name.encode().hex() * 64)[:64]
    directory = root / "containers" / cid
    directory.mkdir(parents=True)
    (directory / "state.json").write_text(json.dumps({
        "Id": cid, "Name": name, "Image": str(image.id), "Created": _ago(hours=1),
        "State": {"Status": "exited", "Running": False, "Pid": 0, "ExitCode": 0}}))


@pytest.fixture
def populated(store: Store) -> dict[str, Image]:
    old = make_image(store, "busybox:latest", [{"bin/busybox": b"b" * 1000}],
                     created=_ago(days=21))
    new = make_image(store, "nginx:stable", [{"etc/nginx.conf": b"x"}, {"usr/sbin/nginx": b"n"}],
                     created=_ago(hours=1))
    dangling = make_image(store, None, [{"tmp": b"t"}], created=_ago(days=400))
    store.tag("nginx:stable", "localhost:5000/web:v1")
    return {"old": old, "new": new, "dangling": dangling}


def test_images_table(root: Path, populated: dict[str, Image]) -> None:
    old, new, dangling = populated["old"], populated["new"], populated["dangling"]
    result = run_cli(root, "images")
    assert result.exit_code == 0, result.stderr
    rows = [
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        ["nginx", "stable", new.short_id, "About an hour ago", human_size(new.size)],
        ["localhost:5000/web", "v1", new.short_id, "About an hour ago", human_size(new.size)],
        ["busybox", "latest", old.short_id, "3 weeks ago", human_size(old.size)],
        ["<none>", "<none>", dangling.short_id, "13 months ago", human_size(dangling.size)],
    ]
    widths = [max(max(len(r[i]) + 3, 10) for r in rows) for i in range(4)]
    expected = "".join("".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True))
                       + r[4] + "\n" for r in rows)
    assert result.stdout == expected
    assert result.stdout.splitlines()[0].startswith("REPOSITORY           TAG       IMAGE ID")


def test_images_quiet_no_trunc_digests(root: Path, populated: dict[str, Image]) -> None:
    new = populated["new"]
    quiet = run_cli(root, "images", "-q").stdout.split()
    assert quiet[:2] == [new.short_id, new.short_id] and len(quiet) == 4
    full = run_cli(root, "images", "-q", "--no-trunc").stdout.split()
    assert full[0] == str(new.id)
    digests = run_cli(root, "images", "--digests").stdout.splitlines()
    assert digests[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED",
                                  "SIZE"]
    assert digests[1].split()[2] == str(new.digest)
    assert digests[-1].split()[2] == "<none>"


def test_images_json_lines(root: Path, populated: dict[str, Image]) -> None:
    old = populated["old"]
    lines = run_cli(root, "images", "--format", "json").stdout.splitlines()
    docs = [json.loads(line) for line in lines]
    assert len(docs) == 4
    busybox = next(d for d in docs if d["Repository"] == "busybox")
    assert list(busybox) == sorted(busybox)  # Go marshals the map with sorted keys
    assert busybox["ID"] == old.short_id
    assert busybox["Tag"] == "latest"
    assert busybox["CreatedSince"] == "3 weeks ago"
    assert busybox["Size"] == human_size(old.size)
    assert busybox["VirtualSize"] == human_size4(old.size)
    assert busybox["Digest"] == str(old.digest)
    assert "\\u003cnone\\u003e" in lines[-1]  # escaped as Go's encoder does


def test_images_template_and_table_template(root: Path, populated: dict[str, Image]) -> None:
    out = run_cli(root, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert out.splitlines() == ["nginx:stable", "localhost:5000/web:v1", "busybox:latest",
                                "<none>:<none>"]
    table = run_cli(root, "images", "--format", "table {{.Repository}}\\t{{.Size}}").stdout
    assert table.splitlines()[0] == "REPOSITORY           SIZE"


def test_images_filtered_by_reference(root: Path, populated: dict[str, Image]) -> None:
    assert run_cli(root, "images", "-q", "busybox").stdout.split() == [
        populated["old"].short_id]
    assert run_cli(root, "images", "-q", "busybox:other").stdout == ""
    assert len(run_cli(root, "images", "-q", "localhost:5000/*").stdout.split()) == 1
    assert run_cli(root, "images", "-q", "-f", "dangling=true").stdout.split() == [
        populated["dangling"].short_id]
    bad = run_cli(root, "images", "-f", "colour=blue")
    assert bad.exit_code != 0 and "invalid filter" in bad.stderr


def test_images_all_shows_build_cache_images(store: Store, root: Path) -> None:
    cached = make_image(store, None, [{"step": b"1"}])
    store.cache.put("RUN step", cached.digest)
    with store.lock():
        store.refs.remove_digest(cached.digest)
    assert run_cli(root, "images", "-q").stdout == ""
    assert run_cli(root, "images", "-a", "-q").stdout.split() == [cached.short_id]


def test_empty_store_lists_the_header_only(root: Path) -> None:
    result = run_cli(root, "images")
    assert result.exit_code == 0
    assert result.stdout == "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"


def test_history(store: Store, root: Path) -> None:
    created = _ago(days=800)
    img = make_image(store, "busybox:latest", [{"bin/busybox": b"b" * 3000}], history=[
        {"created": created,
         "created_by": "/bin/sh -c #(nop) ADD file:6db446a57cbd2b7f4cf4c6dba7d8ac7b6ab1d8 in / "},
        {"created": created, "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
         "empty_layer": True},
    ])
    size = human_size(3000)  # the bytes of its file, as docker counts a layer
    result = run_cli(root, "history", "busybox")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "IMAGE          CREATED       CREATED BY                                      "
        "SIZE      COMMENT\n"
        f"{img.short_id}   2 years ago   /bin/sh -c #(nop)  CMD [\"sh\"]                   "
        "0B        \n"
        "<missing>      2 years ago   /bin/sh -c #(nop) ADD file:6db446a57cbd2b7f4…   "
        f"{size.ljust(10)}\n")
    quiet = run_cli(root, "history", "-q", "busybox").stdout
    assert quiet == f"{img.short_id}\n<missing>\n"
    assert run_cli(root, "history", "-H", "busybox").stdout == result.stdout
    assert run_cli(root, "history", "busybox", "-H=false").stdout == run_cli(
        root, "history", "--human=false", "busybox").stdout
    raw = run_cli(root, "history", "--human=false", "--no-trunc", "busybox").stdout
    lines = raw.splitlines()
    assert lines[0].split()[:4] == ["IMAGE", "CREATED", "AT", "CREATED"]
    assert lines[1].startswith(str(img.id))
    assert " 3000 " in lines[2]  # the bytes of its file, as docker counts a layer
    assert "in / " in lines[2]


def test_tag_and_rmi_messages(store: Store, root: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    layer = img.diff_ids[0]
    assert run_cli(root, "tag", "app:1", "app:2").exit_code == 0
    assert run_cli(root, "rmi", "app:2").stdout == "Untagged: app:2\n"
    out = run_cli(root, "rmi", "app:1").stdout.splitlines()
    assert out[0] == "Untagged: app:1"
    assert out[1] == f"Deleted: {img.id}"
    assert out[2:] == [f"Deleted: {layer}"]  # the layer, by its chain ID
    assert run_cli(root, "images", "-q").stdout == ""


def test_rmi_continues_after_a_missing_image(store: Store, root: Path) -> None:
    make_image(store, "app:1", [{"a": b"1"}])
    result = run_cli(root, "rmi", "foo:bar", "app:1")
    assert result.exit_code == 1
    assert result.stderr == "Error: No such image: foo:bar\n"
    assert "Untagged: app:1" in result.stdout


def test_rmi_refuses_an_image_a_container_uses(store: Store, root: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    _container_using(root, img)
    refused = run_cli(root, "rmi", "app:1")
    assert refused.exit_code == 1
    assert "container is using its referenced image" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    forced = run_cli(root, "rmi", "-f", "app:1")
    assert forced.stdout == "Untagged: app:1\n"
    assert run_cli(root, "images", "-q").stdout.split() == [img.short_id]


def test_image_prune(store: Store, root: Path) -> None:
    keep = make_image(store, "keep:1", [{"k": b"1"}])
    dangling = make_image(store, None, [{"d": b"x" * 5000}])
    used = make_image(store, None, [{"u": b"1"}])
    _container_using(root, used)
    freed = sum(d.size for d in (dangling.manifest_descriptor, dangling.manifest.config,
                                 *dangling.layers))
    result = run_cli(root, "image", "prune", "-f")
    assert result.exit_code == 0
    assert result.stdout == (f"Deleted Images:\ndeleted: {dangling.id}\n"
                             f"deleted: {dangling.layers[0].digest}\n\n"
                             f"Total reclaimed space: {human_size4(freed)}\n")
    assert sorted(run_cli(root, "images", "-q").stdout.split()) == sorted(
        [keep.short_id, used.short_id])
    assert run_cli(root, "image", "prune", "-f").stdout == "Total reclaimed space: 0B\n"
    everything = run_cli(root, "image", "prune", "-a", "-f").stdout
    assert everything.startswith("Deleted Images:\nuntagged: keep:1\n")
    assert run_cli(root, "images", "-q").stdout.split() == [used.short_id]


def test_prune_asks_first(store: Store, root: Path) -> None:
    make_image(store, None, [{"d": b"1"}])
    declined = run_cli(root, "image", "prune", input="n\n")
    assert declined.stdout == ("WARNING! This will remove all dangling images.\n"
                               "Are you sure you want to continue? [y/N] ")
    assert len(run_cli(root, "images", "-q").stdout.split()) == 1
    accepted = run_cli(root, "image", "prune", input="y\n")
    assert "Total reclaimed space:" in accepted.stdout
    assert run_cli(root, "images", "-q").stdout == ""


def test_image_subcommands_are_the_same_commands(store: Store, root: Path) -> None:
    make_image(store, "app:1", [{"a": b"1"}])
    assert run_cli(root, "image", "ls").stdout == run_cli(root, "images").stdout
    assert run_cli(root, "image", "history", "app:1").stdout == run_cli(
        root, "history", "app:1").stdout
    assert run_cli(root, "image", "tag", "app:1", "app:2").exit_code == 0
    assert run_cli(root, "image", "rm", "app:2").stdout == "Untagged: app:2\n"
    helptext = run_cli(root, "image", "--help").stdout
    for name in ("ls", "history", "inspect", "tag", "rm", "prune", "save", "load", "import"):
        assert f"  {name}" in helptext
