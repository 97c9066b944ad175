#!/usr/bin/env python3
"""Measure minidock against the tools users would otherwise pick, side by side.

    python benchmarks/run.py [--quick] [--out DIR] [--only NAME...] [--runs N]

One command: installs the anchor tools from Debian's packages when missing,
configures podman, builds the fixture images and loads them into a benchmark
store (MINIDOCK_ROOT under the work directory; podman and buildah get a
containers-storage of their own there too), then runs every figure and scale
curve and writes `<out>/latest.md` and `<out>/latest.json`.

Targets are reported, not asserted: the exit status is 0 when every figure was
measured (or is not available for a stated reason), 1 when a figure could not
be measured because something failed, 2 when the set-up itself failed.
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402
    FAILED,
    MEASURED,
    NOT_AVAILABLE,
    Bench,
    CommandFailed,
    Curve,
    Figure,
    Result,
    execute,
    remove_tree,
    sh,
)

# the modules declaring figures (FIGURES) and curves (CURVES), in report order
FIGURE_MODULES = ("bench_parse", "bench_layer", "bench_build", "bench_run", "bench_archive",
                  "bench_registry", "bench_api", "scale")

# command -> Debian package providing it
ANCHOR_PACKAGES = {
    "buildah": "buildah", "podman": "podman", "skopeo": "skopeo", "runc": "runc",
    "bwrap": "bubblewrap", "docker-registry": "docker-registry", "hyperfine": "hyperfine",
    "zstd": "zstd", "umoci": "umoci", "ab": "apache2-utils", "nsenter": "util-linux",
    "curl": "curl",
    # buildah needs podman's network helper to create a build container
    "/usr/lib/podman/netavark": "netavark", "/usr/lib/podman/aardvark-dns": "aardvark-dns",
}
FIXTURE_IMAGES = {"busybox": "busybox:latest", "nginx": "nginx:stable"}
VERSION_COMMANDS = {
    "buildah": ["buildah", "--version"], "podman": ["podman", "--version"],
    "skopeo": ["skopeo", "--version"], "runc": ["runc", "--version"],
    "bwrap": ["bwrap", "--version"], "docker-registry": ["docker-registry", "--version"],
    "hyperfine": ["hyperfine", "--version"], "zstd": ["zstd", "--version"],
    "umoci": ["umoci", "--version"], "ab": ["ab", "-V"], "tar": ["tar", "--version"],
    "curl": ["curl", "--version"],
}


class SetupError(Exception):
    """The benchmark environment could not be prepared: nothing can be measured."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def ensure_interpreter() -> None:
    """Re-run under the project's virtualenv when this Python cannot import minidock."""
    try:
        import minidock  # noqa: F401
        return
    except ImportError:
        if os.environ.get("MINIDOCK_BENCH_REEXEC"):
            raise SetupError(f"{sys.executable} cannot import minidock") from None
    venv_python = REPO / ".venv" / "bin" / "python"
    if not venv_python.exists():
        log("creating the virtualenv (scripts/bootstrap.sh)")
        sh(["bash", "-c", "source scripts/bootstrap.sh && ensure_venv"], cwd=REPO)
    os.environ["MINIDOCK_BENCH_REEXEC"] = "1"
    os.execv(venv_python, [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])


# -- figures --------------------------------------------------------------------


def load_items(modules: Sequence[str] = FIGURE_MODULES) -> list[Figure | Curve]:
    items: list[Figure | Curve] = []
    for name in modules:
        module: ModuleType = importlib.import_module(name)
        items.extend(getattr(module, "FIGURES", ()))
        items.extend(getattr(module, "CURVES", ()))
    names = [i.name for i in items]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SetupError(f"figure names declared twice: {', '.join(sorted(duplicates))}")
    return items


def select(items: Sequence[Figure | Curve], patterns: Sequence[str] | None) -> list[Figure | Curve]:
    """The figures named by `--only` (exact names, prefixes ending in '.', or globs)."""
    if not patterns:
        return list(items)
    chosen = []
    unmatched = set(patterns)
    for item in items:
        for p in patterns:
            if item.name == p or fnmatch.fnmatchcase(item.name, p) or (
                    p.endswith(".") and item.name.startswith(p)):
                chosen.append(item)
                unmatched.discard(p)
                break
    if unmatched:
        known = ", ".join(i.name for i in items)
        raise SetupError(f"--only {' '.join(sorted(unmatched))} matches no figure; known: {known}")
    return chosen


# -- set-up -----------------------------------------------------------------------


def ensure_anchors(install: bool) -> None:
    """Install the Debian packages of any anchor tool that is missing."""
    missing = sorted({pkg for cmd, pkg in ANCHOR_PACKAGES.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if not install:
        raise SetupError(f"missing tools ({', '.join(missing)}) and --no-install given")
    if os.geteuid() != 0:
        raise SetupError(f"missing packages {', '.join(missing)}: run as root to install them")
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(apt, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        sh(["apt-get", "update", "-q"], env=env)
        sh(apt, env=env)


def build_fixtures() -> dict[str, Path]:
    """Build the fixture images (cached; a no-op when unchanged) and return their archives."""
    done = sh([sys.executable, REPO / "fixtures" / "build_images.py", *FIXTURE_IMAGES])
    archives: dict[str, Path] = {}
    for line in done.stdout.decode().splitlines():
        fields = line.split("\t")
        if len(fields) >= 3:
            archives[fields[0].split(":")[0]] = Path(fields[2])
    missing = set(FIXTURE_IMAGES) - set(archives)
    if missing:
        raise SetupError(f"build_images.py did not report {', '.join(sorted(missing))}")
    return archives


def minidock_argv() -> list[str]:
    """The console script next to this interpreter, as users run it."""
    script = Path(sys.executable).parent / "minidock"
    if script.exists():
        return [str(script)]
    found = shutil.which("minidock")
    return [found] if found else [sys.executable, "-m", "minidock"]


def storage_conf(work: Path) -> Path:
    """A containers-storage of the benchmark's own for podman, buildah and skopeo."""
    conf = work / "containers" / "storage.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text('[storage]\ndriver = "overlay"\n'
                    f'graphroot = "{work / "containers" / "storage"}"\n'
                    f'runroot = "{work / "containers" / "run"}"\n')
    return conf


def load_fixtures(bench: Bench) -> None:
    """A fresh benchmark store holding the fixture images; the same images for podman."""
    remove_tree(bench.store)
    for name, archive in bench.archives.items():
        sh(bench.md("load", "-q", "-i", archive), env=bench.env)
        ref = FIXTURE_IMAGES[name]
        exists = sh(["podman", "image", "exists", f"docker.io/library/{ref}"], env=bench.env,
                    check=False)
        if exists.returncode != 0:
            sh(["skopeo", "copy", "-q", f"oci-archive:{archive}",
                f"containers-storage:docker.io/library/{ref}"], env=bench.env)
        # buildah resolves a short FROM name to localhost/ first; give it both names
        sh(["podman", "tag", f"docker.io/library/{ref}", f"localhost/{ref}"], env=bench.env)


def unshadow_podman_routes() -> None:
    """Make the kernel skip the routes of interfaces whose link is down.

    A bridge left behind by a CNI-backed buildah or podman run (`cni-podman0`,
    no members) holds the same subnet as netavark's `podman0`, which exists
    only while a container runs; the kernel then routes to the dead bridge and
    podman's published ports never answer. A link-down interface delivers
    nothing anyway, so ignoring its routes while it is down only removes that
    trap; they come back as soon as it carries traffic.
    """
    routes = sh(["ip", "-o", "-4", "route", "show"], check=False).stdout.decode().splitlines()
    for route in routes:
        fields = route.split()
        if "linkdown" in fields and "dev" in fields:
            dev = fields[fields.index("dev") + 1]
            knob = Path(f"/proc/sys/net/ipv4/conf/{dev}/ignore_routes_with_linkdown")
            if knob.exists() and knob.read_text().strip() != "1":
                log(f"{dev} is down but holds the route {fields[0]}: "
                    "ignoring its routes while it is down")
                knob.write_text("1\n")


def prepare(args: argparse.Namespace, work: Path) -> Bench:
    log("checking anchor tools")
    ensure_anchors(install=not args.no_install)
    log("configuring podman")
    sh(["sh", REPO / "fixtures" / "setup_podman.sh"])
    if os.geteuid() == 0:
        unshadow_podman_routes()
    log("building fixture images")
    archives = build_fixtures()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MINIDOCK_") and k != "SOURCE_DATE_EPOCH"}
    env.update(MINIDOCK_ROOT=str(work / "store"), MINIDOCK_CONFIG=str(work / "config"),
               CONTAINERS_STORAGE_CONF=str(storage_conf(work)))
    bench = Bench(repo=REPO, work=work, quick=args.quick, env=env, minidock=minidock_argv(),
                  archives=archives, progress=log if args.verbose else None)
    log(f"loading fixture images into {bench.store}")
    load_fixtures(bench)
    return bench


# -- the machine ---------------------------------------------------------------------


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (done.stdout or done.stderr).strip()
    if not text:
        return "unknown"
    # "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/..." -> "curl 7.88.1"; "tar (GNU tar) 1.34"
    # -> "tar 1.34": drop parentheses, keep the words up to the first one with a digit
    words = re.sub(r"\([^)]*\)", " ", text.splitlines()[0]).replace("*", " ").split()
    for i, word in enumerate(words):
        if any(c.isdigit() for c in word):
            return " ".join(words[:i + 1]).rstrip(",")
    return " ".join(words)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1 << 20)
    return 0.0


def machine(bench: Bench | None) -> dict[str, Any]:
    def read(path: str) -> str:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return "unknown"

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                           capture_output=True, text=True).stdout.strip()
    tools = {name: _first_line(argv) for name, argv in VERSION_COMMANDS.items()}
    if bench is not None:
        tools["minidock"] = _first_line(bench.md("--version"))
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": round(_mem_total_gib(), 1),
        "kernel": platform.release(), "debian": read("/etc/debian_version"),
        "python": platform.python_version(), "load_average": list(os.getloadavg()),
        "commit": commit + (" with uncommitted changes in src/" if dirty else ""),
        "tools": tools,
    }


# -- reports ----------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.4g}{' ' + unit if unit else ''}"


def cell(value: object) -> str:
    """Text safe inside a Markdown table cell (labels like `tar | zstd -3`)."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _verdict(met: bool | None, status: str) -> str:
    if status != MEASURED:
        return status
    return {True: "yes", False: "**NO**", None: "-"}[met]


def render_markdown(info: dict[str, Any], results: Sequence[Result], settings: dict[str, Any]
                    ) -> str:
    m = info["machine"]
    out = ["# minidock benchmarks", "",
           f"Run {info['started']} in {settings['mode']} mode ({settings['runs_text']}), "
           f"{info['seconds']:.0f} s in all; commit {m['commit']}.", "",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
           f"Linux {m['kernel']}, Debian {m['debian']}, Python {m['python']}; "
           f"load average {m['load_average'][0]:.2f} at the start"
           + (f", {m['load_average_end'][0]:.2f} at the end." if "load_average_end" in m else ".")
           + " The other jobs on the machine show in min and max; alternation spreads them "
           "over both sides of each ratio.", "",
           "Every ratio is median(minidock) / median(anchor), the sides measured "
           "alternately (A B A B) in this one run.", "",
           "## Targets and comparisons", "",
           "| figure | minidock | anchor | anchor median | ratio | target | met | issue |",
           "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.kind != "figure":
            continue
        for row in r.rows:
            subject = r.sides.get(row.row.subject)
            anchor = r.sides.get(row.row.anchor) if row.row.anchor else None
            ratio = fmt(row.value, "x") if row.row.anchor else "-"
            if row.row.anchor and row.value is not None:
                ratio = f"{row.value:.2f}x"
            name = r.name if row.row.subject == "minidock" else f"{r.name} ({row.row.subject})"
            out.append(
                f"| {cell(name)} | {fmt(subject.median if subject else None, r.unit)} "
                f"| {cell(row.row.anchor or '-')} "
                f"| {fmt(anchor.median if anchor else None, r.unit)} "
                f"| {ratio} | {row.row.target_text(r.unit)} | {_verdict(row.met, r.status)} "
                f"| {row.row.issue or '-'} |")
    problems = [r for r in results if r.status != MEASURED]
    if problems:
        out += ["", "## Not measured", ""]
        for r in problems:
            first, _, rest = (r.error or "").partition("\n")
            out.append(f"- **{r.name}** ({r.status}): {first}")
            if rest.strip():
                out += ["", "  ```"] + [f"  {line}" for line in rest.strip().splitlines()]
                out += ["  ```"]
    out += ["", "## Figures", ""]
    for r in results:
        if r.kind != "figure" or r.status != MEASURED:
            continue
        out += [f"### {r.name}: {r.title}", "",
                "| side | median | min | max | runs |", "|---|---|---|---|---|"]
        for label, stats in r.sides.items():
            out.append(f"| {cell(label)} | {fmt(stats.median, r.unit)} | {fmt(stats.min, r.unit)} "
                       f"| {fmt(stats.max, r.unit)} | {len(stats.values)} |")
        out += [""] + [f"- {n}" for n in r.notes] + ([""] if r.notes else [])
    curves = [r for r in results if r.kind == "curve" and r.status == MEASURED]
    if curves:
        out += ["## Scale curves", ""]
        for r in curves:
            out += [f"### {r.name}: {r.title}", "",
                    "| " + " | ".join(r.columns) + " |", "|" + "---|" * len(r.columns)]
            out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in r.table]
            out += [""] + [f"- {n}" for n in r.notes] + ([""] if r.notes else [])
    out += ["## Tools", "", "| tool | version |", "|---|---|"]
    out += [f"| {k} | {cell(v)} |" for k, v in m["tools"].items()]
    return "\n".join(out) + "\n"


def write_reports(out: Path, info: dict[str, Any], results: Sequence[Result],
                  settings: dict[str, Any]) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = {**info, "settings": settings, "results": [r.as_dict() for r in results]}
    json_path, md_path = out / "latest.json", out / "latest.md"
    tmp = out / ".latest.json.tmp"
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, json_path)
    tmp = out / ".latest.md.tmp"
    tmp.write_text(render_markdown(info, results, settings))
    os.replace(tmp, md_path)
    return md_path, json_path


def summary_line(result: Result) -> str:
    if result.status != MEASURED:
        lines = [line for line in (result.error or "").splitlines() if line.strip()]
        text = lines[0] if lines else ""
        if len(lines) > 1:
            text += f" ... {lines[-1].strip()}"
        return f"{result.name}: {result.status.upper()}: {text}"
    if result.kind == "curve":
        return f"{result.name}: {len(result.table)} rows ({result.seconds:.1f} s)"
    parts = []
    for row in result.rows:
        value = f"{row.value:.2f}x" if row.row.anchor else fmt(row.value, result.unit)
        versus = f" vs {row.row.anchor}" if row.row.anchor else ""
        verdict = "" if row.met is None else (" ok" if row.met else " MISSED")
        parts.append(f"{value}{versus} (target {row.row.target_text(result.unit)}){verdict}"
                     if row.row.target is not None else f"{value}{versus}")
    return f"{result.name}: " + "; ".join(parts) + f" ({result.seconds:.1f} s)"


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=__doc__.split("\n\n")[0],
        epilog="Figures: " + ", ".join(i.name for i in load_items()))
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, one run each: checks that the harness works (CI)")
    parser.add_argument("--out", type=Path, default=HERE / "results",
                        help="where latest.md and latest.json go (default: benchmarks/results)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these figures (names, globs like 'build.*', or 'build.')")
    parser.add_argument("--runs", type=int, help="measured runs per figure (default: per figure)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per figure (default: 1)")
    parser.add_argument("--work", type=Path,
                        help="work directory: contexts, stores (default: benchmarks/work/MODE)")
    parser.add_argument("--no-install", action="store_true",
                        help="fail instead of installing missing anchor tools")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every measured round")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def run_items(items: Sequence[Figure | Curve], bench: Bench, args: argparse.Namespace
              ) -> tuple[list[Result], bool]:
    """Run the figures in order; (results, interrupted). Ctrl-C stops after the
    figure in progress has cleaned up, keeping what was measured so far."""
    results = []
    for item in items:
        runs = args.runs if args.runs is not None else (1 if args.quick else None)
        warmup = args.warmup if args.warmup is not None else (0 if args.quick else None)
        log(f"{item.name}: {item.title}")
        scratch = bench.work / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            result = execute(item, bench, runs=runs, warmup=warmup, scratch=scratch)
        except KeyboardInterrupt:
            log(f"interrupted during {item.name}")
            return results, True
        results.append(result)
        log(summary_line(result))
    return results, False


def main(argv: Sequence[str] | None = None) -> int:
    try:
        if argv is None:
            ensure_interpreter()
        args = parse_args(argv)
        items = select(load_items(), args.only)
    except (SetupError, CommandFailed) as exc:
        log(str(exc))
        return 2
    if args.list:
        for item in load_items():
            print(f"{item.name:32} {item.kind:7} {item.title}")
        return 0
    mode = "quick" if args.quick else "full"
    work = (args.work or HERE / "work" / mode).resolve()
    work.mkdir(parents=True, exist_ok=True)
    lock = open(work / ".lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another benchmark run is using {work}")
        return 2
    started = datetime.now(UTC)
    clock = time.perf_counter()
    try:
        bench = prepare(args, work)
    except (SetupError, CommandFailed) as exc:
        log(f"set-up failed: {exc}")
        return 2
    info = {"started": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(bench)}
    results, interrupted = run_items(items, bench, args)
    info["seconds"] = time.perf_counter() - clock
    info["machine"]["load_average_end"] = list(os.getloadavg())
    runs_text = ("one run each, no warm-up" if args.quick else
                 f"{args.runs} runs" if args.runs else "each figure's runs after a warm-up")
    if interrupted:
        runs_text += "; interrupted, figures after the last one shown were not run"
    settings = {"mode": mode, "runs": args.runs, "warmup": args.warmup, "runs_text": runs_text,
                "only": args.only, "work": str(work), "interrupted": interrupted}
    md_path, json_path = write_reports(args.out, info, results, settings)
    log(f"wrote {md_path} and {json_path} in {info['seconds']:.0f} s")
    return 130 if interrupted else exit_status(results)


def exit_status(results: Sequence[Result]) -> int:
    """0 when everything was measured or is not available for a stated reason, else 1.

    A missed target is not a failure: targets are reported, not asserted.
    """
    unavailable = [r.name for r in results if r.status == NOT_AVAILABLE]
    failed = [r.name for r in results if r.status == FAILED]
    if unavailable:
        log(f"not available: {', '.join(unavailable)}")
    if failed:
        log(f"FAILED (could not be measured): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
