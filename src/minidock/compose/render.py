"""The normalised model printed as `docker compose config` prints it, YAML or JSON.

Keys come in the order docker compose's model declares its fields (so `image`
after `environment`, `target` before `published`), user-named keys (services,
environment, labels) sorted; zero-valued fields are left out as Go's `omitempty`
leaves them out. The YAML follows the Go encoder's style: two-space indent,
indented sequences, plain scalars unless a string would read as another type.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ORDERS: dict[str, tuple[str, ...]] = {
    "project": ("name", "services", "networks", "volumes", "secrets", "configs", "models"),
    "service": (
        "profiles", "annotations", "attach", "build", "develop", "blkio_config", "cap_add",
        "cap_drop", "cgroup_parent", "cgroup", "cpu_count", "cpu_percent", "cpu_period",
        "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpus", "cpuset", "cpu_shares",
        "command", "configs", "container_name", "credential_spec", "depends_on", "deploy",
        "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "dockerfile",
        "domainname", "entrypoint", "provider", "environment", "env_file", "expose", "extends",
        "external_links", "extra_hosts", "group_add", "gpus", "hostname", "healthcheck",
        "image", "init", "ipc", "isolation", "labels", "label_file", "links", "logging",
        "log_driver", "log_opt", "mem_limit", "mem_reservation", "memswap_limit",
        "mem_swappiness", "mac_address", "models", "net", "network_mode", "networks",
        "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports",
        "privileged", "pull_policy", "read_only", "restart", "runtime", "scale", "secrets",
        "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal",
        "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket", "user",
        "userns_mode", "uts", "volume_driver", "volumes", "volumes_from", "working_dir",
        "pre_start", "post_start", "pre_stop"),
    "build": (
        "context", "dockerfile", "dockerfile_inline", "entitlements", "args", "provenance",
        "sbom", "ssh", "labels", "cache_from", "cache_to", "no_cache", "no_cache_filter",
        "additional_contexts", "pull", "extra_hosts", "isolation", "network", "target",
        "secrets", "shm_size", "tags", "ulimits", "platforms", "privileged"),
    "port": ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol"),
    "mount": ("type", "source", "target", "read_only", "consistency", "bind", "volume",
              "tmpfs", "image"),
    "bind": ("selinux", "propagation", "create_host_path", "recursive"),
    "volume_opts": ("labels", "nocopy", "subpath"),
    "attachment": ("aliases", "driver_opts", "gw_priority", "interface_name", "ipv4_address",
                   "ipv6_address", "link_local_ips", "mac_address", "priority"),
    "network": ("name", "driver", "driver_opts", "ipam", "external", "internal", "attachable",
                "labels", "enable_ipv4", "enable_ipv6"),
    "volume": ("name", "driver", "driver_opts", "external", "labels"),
    "file_object": ("name", "file", "environment", "content", "external", "labels", "driver",
                    "driver_opts", "template_driver"),
    "dependency": ("condition", "restart", "required"),
    "env_file": ("path", "required", "format"),
    "healthcheck": ("test", "timeout", "interval", "retries", "start_period", "start_interval",
                    "disable"),
    "deploy": ("mode", "replicas", "labels", "update_config", "rollback_config", "resources",
               "restart_policy", "placement", "endpoint_mode"),
    "resources": ("limits", "reservations"),
    "resource": ("cpus", "memory", "pids", "devices", "generic_resources"),
    "restart_policy": ("condition", "delay", "max_attempts", "window"),
    "logging": ("driver", "options"),
    "file_ref": ("source", "target", "uid", "gid", "mode"),
    "ulimit": ("single", "soft", "hard"),
}

# field -> kind of its value; ("map", k): user-named keys of kind k; ("list", k): items of k
_CHILDREN: dict[str, dict[str, Any]] = {
    "project": {"services": ("map", "service"), "networks": ("map", "network"),
                "volumes": ("map", "volume"), "secrets": ("map", "file_object"),
                "configs": ("map", "file_object")},
    "service": {"build": "build", "ports": ("list", "port"), "volumes": ("list", "mount"),
                "networks": ("map", "attachment"), "depends_on": ("map", "dependency"),
                "env_file": ("list", "env_file"), "healthcheck": "healthcheck",
                "deploy": "deploy", "logging": "logging", "secrets": ("list", "file_ref"),
                "configs": ("list", "file_ref"), "ulimits": ("map", "ulimit")},
    "mount": {"bind": "bind", "volume": "volume_opts"},
    "deploy": {"resources": "resources", "restart_policy": "restart_policy"},
    "resources": {"limits": "resource", "reservations": "resource"},
}
# Go pointer fields and fields without omitempty: shown even when empty (`volume: {}`)
_KEEP_EMPTY = {("project", "services"), ("mount", "bind"), ("mount", "volume"),
               ("mount", "tmpfs"), ("mount", "image")}
# Go plain bools: `false` is their zero value, left out
_PLAIN_BOOLS = {("service", k) for k in ("privileged", "read_only", "stdin_open", "tty",
                                         "oom_kill_disable")} | {
    ("mount", "read_only"), ("dependency", "restart"), ("network", "external"),
    ("network", "internal"), ("network", "attachable"), ("volume", "external"),
    ("file_object", "external")}


def _ordered(value: Any, kind: str | tuple[str, str] | None, for_json: bool) -> Any:
    if isinstance(kind, tuple):
        shape, inner = kind
        if shape == "map" and isinstance(value, dict):
            return {k: (None if v is None else _ordered(v, inner, for_json))
                    for k, v in sorted(value.items())}
        if shape == "list" and isinstance(value, list):
            return [_ordered(v, inner, for_json) for v in value]
    if isinstance(value, dict):
        if kind is None or kind not in _ORDERS:
            return {k: _ordered(v, None, for_json) for k, v in sorted(value.items())}
        order = _ORDERS[kind]
        children = _CHILDREN.get(kind, {})
        keys = [k for k in order if k in value] + sorted(k for k in value if k not in order)
        if for_json and kind != "project":  # Go's JSON tags drop nested `x-` extensions
            keys = [k for k in keys if not k.startswith("x-")]
        out = {}
        for key in keys:
            item = value[key]
            if item is None or (item is False and (kind, key) in _PLAIN_BOOLS):
                continue
            if item in ("", [], {}) and (kind, key) not in _KEEP_EMPTY:
                continue
            out[key] = _ordered(item, children.get(key), for_json)
        return out
    if isinstance(value, list):
        return [_ordered(v, None, for_json) for v in value]
    return value


def ordered(model: dict[str, Any], *, typed: bool = True, for_json: bool = False
            ) -> dict[str, Any]:
    """The model with docker compose's key order and omissions; `env_file` and
    `label_file` are left out (their values are in `environment` and `labels`).
    Untyped (the uninterpolated model): keys sorted.
    """
    services = {name: {k: v for k, v in svc.items() if k not in ("env_file", "label_file")}
                for name, svc in (model.get("services") or {}).items()}
    return dict(_ordered({**model, "services": services}, "project" if typed else None,
                         for_json))


def escape_dollars(text: str) -> str:
    """Interpolated output is re-readable: a literal `$` is written `$$`."""
    return text.replace("$", "$$")


# -- YAML --------------------------------------------------------------------------------

_NOT_STRING = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|~|null|Null|NULL"
    r"|[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)"
    r"|[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$")
_INDICATORS = set("#,[]{}&*!|>'\"%@`")


def _plain_ok(text: str) -> bool:
    if text != text.strip() or any(c in text for c in "\n\r\t\x00") or not text.isprintable():
        return False
    first = text[0]
    if first in _INDICATORS or (first in "-?:" and (len(text) == 1 or text[1] == " ")):
        return False
    return ": " not in text and " #" not in text and not text.endswith(":")


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if not text or _NOT_STRING.match(text):
        return json.dumps(text, ensure_ascii=False)
    if _plain_ok(text):
        return text
    if "\n" not in text and text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=False)


def _block(text: str, pad: str) -> list[str] | None:
    """A multi-line string as a literal block, or None when one cannot carry it."""
    if "\n" not in text or text.startswith((" ", "\n")) or "\r" in text or "\t" in text:
        return None
    if not all(line.isprintable() for line in text.split("\n")):
        return None
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    head = "|-" if trailing == 0 else "|" if trailing == 1 else "|+"
    lines = [head] + [f"{pad}{line}" if line else "" for line in body.split("\n")]
    return lines + [""] * (trailing - 1 if trailing > 1 else 0)


def _emit(value: Any, indent: int, lines: list[str], prefix: str) -> None:
    """Append `value` to `lines`; `prefix` starts the first line (`key: ` or `- `)."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        first = True
        for key, item in value.items():
            head = (prefix if first else pad) + scalar(key) + ":"
            first = False
            _value_after(head, item, indent, lines)
        return
    if isinstance(value, list) and value:
        for index, item in enumerate(value):
            head = (prefix if index == 0 else pad) + "- "
            if isinstance(item, (dict, list)) and item:
                _emit(item, indent + 2, lines, head)
            else:
                _value_after(head.rstrip(), item, indent + 2, lines)
        return
    lines.append(prefix + _inline(value))


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def _value_after(head: str, item: Any, indent: int, lines: list[str]) -> None:
    if isinstance(item, dict) and item:
        lines.append(head)
        _emit(item, indent + 2, lines, " " * (indent + 2))
    elif isinstance(item, list) and item:
        lines.append(head)
        _emit(item, indent + 2, lines, " " * (indent + 2))
    elif isinstance(item, str) and (block := _block(item, " " * (indent + 2))):
        lines.append(f"{head} {block[0]}")
        lines.extend(block[1:])
    else:
        lines.append(f"{head} {_inline(item)}")


def to_yaml(value: Any) -> str:
    lines: list[str] = []
    _emit(value, 0, lines, "")
    return "\n".join(lines) + "\n"


def to_json(model: dict[str, Any]) -> str:
    """Go's json.MarshalIndent of the project: top-level keys sorted, HTML characters escaped."""
    top = {k: model[k] for k in sorted(model)}
    text = json.dumps(top, indent=2, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
