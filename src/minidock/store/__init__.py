"""The store: an OCI image layout plus minidock's own state, on local disk.

```
$root/oci-layout, index.json, blobs/sha256/...   plain OCI layout (skopeo/umoci read it)
$root/layers/<diff_id hex>/                       each layer extracted once, shared read-only
$root/containers/<id>/   $root/volumes/<name>/    runtime state
$root/cache/keys/        build cache              $root/tmp/  in-store temp files
```
Modules: `store` (the Store and Image classes), `blobs`, `refs` (index.json), `cache`
(the build cache), `lock`. Blobs are immutable; index.json is replaced atomically
under the index lock.
Garbage collection marks from tags/untagged images and the build cache and
sweeps under an exclusive gc lock that blob writers hold shared.
"""
