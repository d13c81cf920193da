"""A client's record as a readable PDF, for the client's right of access (docs/right-of-access.md):
the selector's summary (kapflow.records.summary) laid out by a Django template
(records/record_pdf.html) and printed by WeasyPrint, as letters are (kapflow.letters.pdf).

Rendered afresh each time a copy is given: a copy shows the record as it stands that day, and
what was given is kept as its size and hash (records.RecordCopy), not as a stored file."""

from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML

from kapflow.records.summary import RecordSummary


def record_pdf(summary: RecordSummary, *, delivered_to: str) -> bytes:
    """The readable copy of the record in `summary`, naming on its cover who it is for."""
    html = render_to_string(
        "records/record_pdf.html",
        {
            "s": summary,
            "client": summary.client,
            "practice": summary.practice,
            "produced_at": timezone.localtime(summary.produced_at),
            "delivered_to": delivered_to,
            "contents": summary.contents(),
        },
    )
    return HTML(string=html).write_pdf()
