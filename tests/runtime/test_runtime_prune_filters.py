"""`volume ls --filter` and `prune --filter` (until, label, label!), with the rules
Docker 20.10 showed for the same objects."""

from __future__ import annotations

from runtime_helpers import Minidock


def test_volume_ls_filters(md: Minidock) -> None:
    md.ok("volume", "create", "pf-used")
    md.ok("volume", "create", "--label", "team=a", "pf-free")
    md.ok("run", "--name", "pf-user", "-v", "pf-used:/d", "busybox", "true")
    try:
        def ls(*args: str) -> list[str]:
            return [n for n in md.ok("volume", "ls", "-q", *args).split() if n.startswith("pf-")]

        assert ls("-f", "dangling=true") == ["pf-free"]
        assert ls("-f", "dangling=false") == ["pf-used"]
        assert ls("-f", "label=team") == ["pf-free"]
        assert ls("-f", "label=team=b") == []
        assert sorted(ls("-f", "name=pf-")) == ["pf-free", "pf-used"]
        assert sorted(ls("-f", "driver=local")) == ["pf-free", "pf-used"]
        table = md.ok("volume", "ls", "-f", "name=pf-free").splitlines()
        assert table == ["DRIVER    VOLUME NAME", "local     pf-free"]
        bad = md("volume", "ls", "-f", "foo=1")
        assert (bad.code, bad.err) == (125, "Error: invalid filter 'foo=1'\n")
    finally:
        md("rm", "-f", "pf-user")
        md("volume", "rm", "pf-used", "pf-free")


def test_prune_filters_keep_what_does_not_match(md: Minidock) -> None:
    md.ok("run", "--name", "pf-a", "--label", "keep=yes", "busybox", "true")
    md.ok("run", "--name", "pf-b", "--label", "keep=no", "busybox", "true")
    md.ok("volume", "create", "--label", "keep=yes", "pf-v1")
    md.ok("volume", "create", "pf-v2")
    try:
        def names() -> list[str]:
            return sorted(n for n in md.ok("ps", "-a", "--format", "{{.Names}}").split()
                          if n.startswith("pf-"))

        # nothing made an hour ago: until=1h keeps both
        assert md.ok("container", "prune", "-f", "--filter", "until=1h") == \
            "Total reclaimed space: 0B\n"
        assert names() == ["pf-a", "pf-b"]
        out = md.ok("container", "prune", "-f", "--filter", "label!=keep=yes")
        assert out.startswith("Deleted Containers:\n")
        assert names() == ["pf-a"]
        md.ok("container", "prune", "-f", "--filter", "label=keep", "--filter", "until=0s")
        assert names() == []
        out = md.ok("volume", "prune", "-a", "-f", "--filter", "label=keep=yes")
        assert out.splitlines()[:2] == ["Deleted Volumes:", "pf-v1"]
        assert "pf-v2" in md.ok("volume", "ls", "-q").split()
        for args, message in (
                (["container", "prune", "-f", "--filter", "until=soon"],
                 'failed to parse value as time or duration: "soon"'),
                (["volume", "prune", "-f", "--filter", "until=1h"], "invalid filter 'until=1h'"),
                (["image", "prune", "-f", "--filter", "color=red"], "invalid filter 'color=red'")):
            bad = md(*args)
            assert (bad.code, bad.err) == (125, f"Error: {message}\n"), args
    finally:
        md("rm", "-f", "pf-a", "pf-b")
        md("volume", "rm", "pf-v1", "pf-v2")
