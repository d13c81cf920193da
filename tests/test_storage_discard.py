"""A file a failed write left behind is removed, or, where the storage may not delete (object
storage whose key has no delete right, docs/documents.md), left and named in the log."""

import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from kapflow.lib.storage import discard


def test_it_removes_the_file(media_dir):
    name = default_storage.save("documents/left-behind.pdf", ContentFile(b"%PDF-1.4"))
    discard(default_storage, name)
    assert not default_storage.exists(name)


class NoDeleting:
    def delete(self, name):
        raise PermissionError("AccessDenied: s3:DeleteObject")


def test_a_storage_that_may_not_delete_leaves_it_and_says_which(caplog):
    with caplog.at_level(logging.WARNING, logger="kapflow.lib.storage"):
        discard(NoDeleting(), "documents/7/abc.pdf")
    assert "documents/7/abc.pdf" in caplog.text
