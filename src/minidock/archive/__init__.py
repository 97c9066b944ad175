"""Archives in and out of the store: save, load, import.

`save` writes docker-archives (what `docker save` writes) and OCI archives;
`load` reads either, plain or compressed, from a file or a pipe, and records
nothing until every blob is in and verified; `import` turns a root filesystem
tar into a one-layer image. Export of a container's filesystem belongs to the
runtime.
"""

from minidock.archive.changes import apply_changes
from minidock.archive.importer import import_rootfs
from minidock.archive.load import LoadedImage, load
from minidock.archive.save import FORMATS, SaveItem, save

__all__ = ["FORMATS", "LoadedImage", "SaveItem", "apply_changes", "import_rootfs", "load",
           "save"]
