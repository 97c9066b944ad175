"""Turning a registry's error reply into the one line a user should read.

The distribution API answers `{"errors": [{"code": "MANIFEST_UNKNOWN", "message":
"manifest unknown"}]}`; Docker shows that as `manifest unknown: manifest unknown`,
and so does minidock. Token servers answer in their own shapes (`details`,
`error_description`), which are read too.
"""

from __future__ import annotations

import json
from typing import Any

ERROR_BODY_LIMIT = 64 * 1024


def _code_words(code: str) -> str:
    return code.strip().lower().replace("_", " ")


def error_codes(body: bytes) -> list[str]:
    """The `code` of each entry of a distribution-API error body."""
    obj = _json(body)
    errors = obj.get("errors") if isinstance(obj, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("code", "")) for e in errors if isinstance(e, dict)]


def error_message(status: int, reason: str, body: bytes) -> str:
    """One line describing a failed request, in the registry's own words when it gave some."""
    obj = _json(body)
    if isinstance(obj, dict):
        errors = obj.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for e in errors:
                if not isinstance(e, dict):
                    continue
                code = _code_words(str(e.get("code") or ""))
                message = str(e.get("message") or "").strip()
                parts.append(f"{code}: {message}" if code and message else code or message)
            text = "; ".join(p for p in parts if p)
            if text:
                return _one_line(text)
        for key in ("details", "detail", "error_description", "message", "error"):
            value = obj.get(key)
            if isinstance(value, str) and value.strip():
                prefix = "unauthorized: " if status == 401 else ""
                return _one_line(prefix + value.strip())
    if status == 401:
        return "unauthorized: authentication required"
    if status == 403:
        return "denied: requested access to the resource is denied"
    return f"unexpected status {status} {reason}".strip()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body[:ERROR_BODY_LIMIT])
    except (ValueError, UnicodeDecodeError):
        return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
