"""Containers: image config -> process spec, rootfs drivers, the namespace sandbox,
container records, their lifecycle (create, start, control), port publishing and
volumes.

Modules import only what they use so `minidock run` stays fast; nothing here
prints: progress and output go through callbacks and file descriptors.
"""
