"""The OCI image model: descriptors, manifests, indexes, configs and history."""
