"""A letter as a PDF: a Django template (letters/pdf.html) printed by WeasyPrint.

A draft is rendered afresh each time it is previewed, from what the chart says now and marked
"Draft". A signed letter is rendered once, at signing, from its `facts`; from then on its stored
file is what is served and sent (`signed_pdf_bytes`), checked against the hash kept with it."""

import hashlib

from django.core.files.storage import default_storage
from django.template.loader import render_to_string
from weasyprint import HTML

from kapflow.consent.categories import describe
from kapflow.letters.models import Letter


class TamperedFile(Exception):
    """The stored PDF of a signed letter is missing or is not the one that was signed."""


def render(letter: Letter, facts: dict, *, author, when, draft: bool) -> bytes:
    """The letter's PDF from `facts` (compose.compose), its free text and who wrote it."""
    html = render_to_string(
        "letters/pdf.html",
        {
            "letter": letter,
            "facts": facts,
            "contains": describe(letter.categories),
            "author": author,
            "when": when,
            "draft": draft,
        },
    )
    return HTML(string=html).write_pdf()


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def file_name(letter: Letter, digest: str) -> str:
    return f"letters/{letter.client_id}/letter-{letter.pk}-{digest[:16]}.pdf"


def signed_pdf_bytes(letter: Letter) -> bytes:
    """The signed letter's PDF exactly as it was signed: the stored file, never rendered again.
    Raises TamperedFile if the file is gone or its hash is not the one recorded at signing."""
    if not letter.is_signed or not letter.pdf:
        raise TamperedFile(f"Letter {letter.pk} is not signed.")
    try:
        with default_storage.open(letter.pdf.name, "rb") as stored:
            content = stored.read()
    except (FileNotFoundError, OSError) as error:
        raise TamperedFile(f"The PDF of letter {letter.pk} is missing.") from error
    if sha256(content) != letter.pdf_sha256:
        raise TamperedFile(f"The PDF of letter {letter.pk} is not the one that was signed.")
    return content
