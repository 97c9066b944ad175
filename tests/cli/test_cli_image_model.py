"""One model of what an image is: every ID `images -a` lists is one `inspect` and
`history` find and `rmi` deletes, and `system df` counts the same images (the
build's intermediate images as its Build Cache row)."""

from __future__ import annotations

import json
from pathlib import Path

from store_testkit import make_image, run_cli

from minidock.store.store import Store


def _ids(root: Path, *args: str) -> list[str]:
    result = run_cli(root, "images", "-q", "--no-trunc", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.split()


def _df(root: Path) -> dict[str, dict[str, str]]:
    result = run_cli(root, "system", "df", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return {row["Type"]: row for row in map(json.loads, result.stdout.splitlines())}


def _listed_images_agree(root: Path) -> list[str]:
    """What `images -a` lists is what inspect, history and df know; returns the IDs."""
    listed, top = _ids(root, "-a"), _ids(root)
    for image_id in listed:
        inspect = run_cli(root, "inspect", "--format", "{{.Id}}", image_id)
        assert (inspect.exit_code, inspect.stdout.strip()) == (0, image_id), inspect.stderr
        history = run_cli(root, "history", "-q", image_id)
        assert history.exit_code == 0, history.stderr
    df = _df(root)
    assert int(df["Images"]["TotalCount"]) == len(top)
    assert int(df["Images"]["TotalCount"]) + int(df["Build Cache"]["TotalCount"]) == len(listed)
    return listed


def _gone(root: Path, image_id: str) -> None:
    assert image_id not in _ids(root, "-a")
    for command in ("inspect", "history"):
        result = run_cli(root, command, image_id)
        assert result.exit_code != 0
        assert "No such" in result.stderr


def test_images_a_inspect_history_rmi_and_df_share_one_image_model(store: Store, root: Path,
                                                                   tmp_path: Path) -> None:
    base = make_image(store, "base:1", [{"etc/os": b"base\n"}])
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("payload\n")
    (ctx / "Dockerfile").write_text("FROM base:1\nCOPY f /f\nENV A=1\nLABEL x=y\n")
    built = run_cli(root, "build", "-q", "-t", "t1", str(ctx))
    assert built.exit_code == 0, built.stderr
    t1 = built.stdout.strip()
    listed = _listed_images_agree(root)
    intermediates = [i for i in listed if i not in (t1, str(base.id))]
    assert len(intermediates) == 2  # the COPY and ENV steps, as the classic builder keeps them

    removed = run_cli(root, "rmi", "t1")
    assert removed.stdout.splitlines()[:2] == ["Untagged: t1:latest", f"Deleted: {t1}"]
    _gone(root, t1)
    _listed_images_agree(root)

    for image_id in intermediates:
        if image_id in _ids(root, "-a"):
            deleted = run_cli(root, "rmi", image_id)
            assert deleted.exit_code == 0, deleted.stderr
            assert f"Deleted: {image_id}" in deleted.stdout.splitlines()
        _gone(root, image_id)
    assert _listed_images_agree(root) == [str(base.id)]
    cache = _df(root)["Build Cache"]
    assert (cache["TotalCount"], cache["Size"]) == ("0", "0B")
    assert run_cli(root, "system", "check").exit_code == 0


def test_image_prune_all_removes_the_intermediate_images_too(store: Store, root: Path,
                                                             tmp_path: Path) -> None:
    make_image(store, "base:1", [{"etc/os": b"base\n"}])
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("payload\n")
    (ctx / "Dockerfile").write_text("FROM base:1\nCOPY f /f\nENV A=1\n")
    assert run_cli(root, "build", "-q", "-t", "t1", str(ctx)).exit_code == 0
    listed = _listed_images_agree(root)
    assert len(listed) == 3  # base, the COPY step, t1
    pruned = run_cli(root, "image", "prune", "-a", "-f")
    assert pruned.exit_code == 0, pruned.stderr
    deleted = {line.split()[1] for line in pruned.stdout.splitlines()
               if line.startswith("deleted: ")}
    assert set(listed) <= deleted  # every image images -a listed, each reported
    assert _listed_images_agree(root) == []
    assert _df(root)["Build Cache"]["TotalCount"] == "0"
