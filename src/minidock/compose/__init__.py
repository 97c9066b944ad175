"""The compose project model: files found, merged, interpolated, validated, normalised.

`minidock compose config` prints what this package loads; running the services is
not part of it yet. See docs/compose.md.

NOTICE: compose-spec.json is the Compose Specification's JSON schema, from the
compose-spec/compose-spec project (schema/compose-spec.json), under the Apache
License 2.0.
"""
