"""Files in the practice's storage (settings.STORAGES["default"]: a folder, or object storage)."""

import logging

logger = logging.getLogger(__name__)


def discard(storage, name: str) -> None:
    """Remove a file that a failed write left named by no record. Where the storage refuses
    (object storage whose key may not delete, as docs/documents.md advises), the file stays and
    the log says which, so that the write's own error is the one that is raised."""
    try:
        storage.delete(name)
    except Exception:
        logger.warning("A file no record names was left in the storage: %s", name, exc_info=True)
