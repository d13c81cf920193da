"""What kind of file an upload is, judged by its first bytes, never by its name or the content
type the browser declared: either can say anything. Four kinds are filed on a chart: PDF (what
most records, letters and lab reports arrive as), PNG and JPEG (a photographed or scanned page)
and TIFF (what a fax arrives as). Anything else, and a file whose name says one of these kinds
while its content is another, is refused with a sentence the person uploading can act on."""

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

# A megabyte here is 1,048,576 bytes, as a computer's file manager counts it.
MEGABYTE = 1024 * 1024
# The longest signature below, and then some: all that is read to recognise a file.
HEAD_BYTES = 16


@dataclass(frozen=True)
class FileKind:
    name: str
    content_type: str
    extension: str  # the one a stored or downloaded copy gets
    extensions: tuple[str, ...]  # every extension a file of this kind is commonly named with
    signatures: tuple[bytes, ...]

    def matches(self, head: bytes) -> bool:
        return any(head.startswith(signature) for signature in self.signatures)


KINDS = (
    FileKind("PDF", "application/pdf", ".pdf", (".pdf",), (b"%PDF-",)),
    # The 8-byte PNG signature, then the length (13) and name of the IHDR chunk that must follow.
    FileKind("PNG", "image/png", ".png", (".png",), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",)),
    # Start of image, then the first marker's FF.
    FileKind("JPEG", "image/jpeg", ".jpg", (".jpg", ".jpeg", ".jpe", ".jfif"), (b"\xff\xd8\xff",)),
    # Little-endian "II*\0" or big-endian "MM\0*" (TIFF 6.0, section 2).
    FileKind("TIFF", "image/tiff", ".tif", (".tif", ".tiff"), (b"II*\x00", b"MM\x00*")),
)
_BY_EXTENSION = {extension: kind for kind in KINDS for extension in kind.extensions}
_BY_CONTENT_TYPE = {kind.content_type: kind for kind in KINDS} | {
    "image/jpg": KINDS[2],
    "image/pjpeg": KINDS[2],
}


@dataclass(frozen=True)
class Inspected:
    """An upload that passed: its kind (from its content), size, SHA-256 and the name it came
    with, cleaned for showing (never used as a path)."""

    kind: FileKind
    size: int
    sha256: str
    original_name: str


def max_bytes() -> int:
    return settings.UPLOAD_MAX_MB * MEGABYTE


def too_large_message(size: int | None = None) -> str:
    """What the form says of a file over the limit (`size` unknown when SizeLimit threw it away)."""
    limit = settings.UPLOAD_MAX_MB
    told = f"This file is {size / MEGABYTE:.1f} MB" if size else "This file is too large"
    return (
        f"{told}; the most kapflow accepts is {limit} MB. "
        "Send a smaller copy (a scan at a lower resolution, or the document split in parts)."
    )


def shown_name(name: str) -> str:
    """The uploaded file's name as the person's computer called it, for showing: without any
    folder (a browser may send one), control characters or surrounding spaces, at most 255
    characters."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[-255:] or "unnamed"


def kind_of(head: bytes) -> FileKind | None:
    """The kind whose signature `head` (a file's first bytes) starts with, or None."""
    return next((kind for kind in KINDS if kind.matches(head)), None)


def _extension(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def inspect(upload: UploadedFile) -> Inspected:
    """Check an upload and describe it; raises ValidationError with the reason it is refused:
    empty, larger than KAPFLOW_UPLOAD_MAX_MB, not one of the four kinds, or named (or declared
    by the browser) as one kind while its content is another."""
    name = shown_name(upload.name)
    size = upload.size or 0
    if size == 0:
        raise ValidationError(
            f"“{name}” is empty (0 bytes). Choose the file again: it may not have saved or downloaded fully.",
            code="empty",
        )
    if size > max_bytes():
        raise ValidationError(too_large_message(size), code="too_large")
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    kind = kind_of(head)
    if kind is None:
        raise ValidationError(
            f"“{name}” is not a PDF, PNG, JPEG or TIFF file, whatever its name says, so it cannot be "
            "filed. Save or print it as a PDF first.",
            code="unknown_type",
        )
    named = _BY_EXTENSION.get(_extension(name))
    declared = _BY_CONTENT_TYPE.get((upload.content_type or "").split(";")[0].strip().lower())
    for claimed in (named, declared):
        if claimed is not None and claimed is not kind:
            raise ValidationError(
                f"“{name}” is labelled as a {claimed.name} file but its content is a {kind.name}. "
                "It may have been renamed; open it to check it is the document you meant, then "
                f"save it with the {kind.extension} ending.",
                code="mismatch",
            )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return Inspected(kind=kind, size=size, sha256=digest.hexdigest(), original_name=name)


class SizeLimit(FileUploadHandler):
    """Put first among a request's upload handlers: stops keeping a file as soon as it passes
    KAPFLOW_UPLOAD_MAX_MB (the rest of it is read and thrown away, never written to disk), and
    notes on the request that it did, so that the form can say so. Without it Django would save
    any size of file to a temporary file before the form could look at it."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = max_bytes()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            setattr(self.request, TOO_LARGE_ATTR, True)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) makes the file


# Set on the request by SizeLimit when it threw a file away.
TOO_LARGE_ATTR = "_kapflow_upload_too_large"


def upload_was_too_large(request) -> bool:
    return getattr(request, TOO_LARGE_ATTR, False)
