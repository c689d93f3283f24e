"""Containers: records, configuration, root filesystems, and their lifecycle."""
