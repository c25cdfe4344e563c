"""Writing versions: create, resume or grow one from a plan, with any engine."""

from gridstore.write.versions import create_version, grow_version, resume_version

__all__ = ["create_version", "grow_version", "resume_version"]
