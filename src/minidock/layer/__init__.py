"""Layer tars: writing them deterministically, diffing trees into them, extracting them safely.

Pure filesystem and tar logic on streams and directories; the store hands in
file objects and receives `LayerInfo`. Import from the submodules
(`minidock.layer.writer`, `.extract`, `.differ`, `.compression`, `.entry`), so
that a command loads only the part it uses.
"""
