"""The client's right of access to their record (45 CFR 164.524, docs/right-of-access.md): a copy
of the record, as a readable PDF or a FHIR R4 bundle, downloaded by the client on the portal or
produced by a clinician for a request made on paper.

Each copy given is written down three times in one transaction: a `letters.Disclosure` (so the
chart's list of disclosures and the accounting show it), a `RecordCopy` (the request, who the
copy went to, its size and hash) and an audit row. A disclosure to the client themselves is one
HIPAA leaves out of the accounting it requires (164.528(a)(1)(ii)), so the disclosure is not
`accountable`; the accounting lists such copies in a section of their own all the same
(kapflow.letters.sending.access_copies), so a client reading it sees every copy they were given."""

import datetime
import hashlib

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.access import can_see_clinical
from kapflow.clients.models import Client
from kapflow.letters.models import Disclosure
from kapflow.records.fhir import bundle_json
from kapflow.records.models import RecordCopy
from kapflow.records.pdf import record_pdf
from kapflow.records.summary import record_summary

# What the disclosure says was given, for each format.
WHAT = {
    RecordCopy.Format.PDF: "Copy of the record (PDF)",
    RecordCopy.Format.FHIR: "Copy of the record (FHIR R4 bundle)",
}
PURPOSE = "At the client's request: their right of access to their record"

# How each format is served, and the ending of its file name.
CONTENT_TYPES = {RecordCopy.Format.PDF: "application/pdf", RecordCopy.Format.FHIR: "application/fhir+json"}
ENDINGS = {RecordCopy.Format.PDF: "pdf", RecordCopy.Format.FHIR: "json"}

# How a copy may reach the person, for each channel: the portal is a download by the client;
# a written request is answered by post, in person, or another way the clinician records.
METHODS = {
    RecordCopy.Channel.PORTAL: {Disclosure.Method.PORTAL},
    RecordCopy.Channel.PAPER: {Disclosure.Method.POST, Disclosure.Method.IN_PERSON, Disclosure.Method.OTHER},
}


def file_name(copy: RecordCopy) -> str:
    """The name the copy is saved under: no name of the client in it, only the record's number."""
    return f"record-{copy.client_id}-{timezone.localdate(copy.produced_at):%Y-%m-%d}.{ENDINGS[copy.format]}"


def _may_give(request, client: Client, channel: str) -> bool:
    """The portal copy is the client's own, downloaded from their account; a copy for a written
    request is produced by one of the client's clinicians (kapflow.clients.access, CLINICAL)."""
    if channel == RecordCopy.Channel.PORTAL:
        return client.portal_user_id is not None and client.portal_user_id == request.user.pk
    return bool(request.user.is_staff_member) and can_see_clinical(request, client)


def _content(client: Client, format: str, *, delivered_to: str, now: datetime.datetime) -> bytes:
    if format == RecordCopy.Format.FHIR:
        return bundle_json(client)
    return record_pdf(record_summary(client, now=now), delivered_to=delivered_to)


def record_copy_give(
    *,
    request,
    client: Client,
    format: str,
    channel: str,
    method: str,
    requested_on: datetime.date | None = None,
    requested_by: str = "",
    delivered_to: str = "",
    address: str = "",
) -> tuple[RecordCopy, bytes]:
    """Build a copy of `client`'s record in `format` and record it as given: the disclosure (on
    the basis of the right of access, not accountable), the RecordCopy and an audit row, in one
    transaction. `delivered_to` is the person named in the client's signed request, or (blank)
    the client. Raises PermissionDenied for anyone but the client on the portal or the client's
    clinicians on paper, and ValidationError for a request that does not add up (a written
    request without its date, or dated in the future or before the client was born; a method the
    channel does not use)."""
    if format not in WHAT or channel not in METHODS:
        raise ValidationError("Choose a format and a channel kapflow knows.")
    if method not in METHODS[channel]:
        raise ValidationError({"method": "Choose how the copy reaches the person."})
    if not _may_give(request, client, channel):
        raise PermissionDenied
    now = timezone.now()
    if channel == RecordCopy.Channel.PAPER and requested_on is None:
        raise ValidationError({"requested_on": "A written request needs the day it was received."})
    if requested_on is not None and requested_on > timezone.localdate(now):
        raise ValidationError({"requested_on": "The request cannot have been received in the future."})
    if requested_on is not None and requested_on < client.date_of_birth:
        before_birth = "The request cannot have been received before the client was born: check the date."
        raise ValidationError({"requested_on": before_birth})
    recipient = delivered_to.strip() or f"{client.first_name} {client.last_name}"
    # Built before the transaction opens: printing a long record takes a moment, and no lock or
    # row is held meanwhile. The copy shows the record as it stands at `now`.
    content = _content(client, format, delivered_to=recipient, now=now)
    with transaction.atomic():
        disclosure = Disclosure(
            client=client,
            what=WHAT[format],
            recipient_name=recipient[:150],
            recipient_address=address.strip(),
            purpose=PURPOSE,
            basis=Disclosure.Basis.RIGHT_OF_ACCESS,
            method=method,
            accountable=False,
            disclosed_by=request.user,
            disclosed_at=now,
        )
        disclosure.full_clean()
        disclosure.save()
        copy = RecordCopy(
            client=client,
            channel=channel,
            format=format,
            requested_on=requested_on,
            requested_by=requested_by.strip(),
            delivered_to=recipient[:150],
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            disclosure=disclosure,
            produced_by=request.user,
            produced_at=now,
        )
        copy.full_clean()
        copy.save()
        audit_record(
            request=request,
            action="kapflow.records.copy.given",
            client=client,
            obj=copy,
            detail={
                "format": format,
                "channel": channel,
                "method": method,
                "disclosure": disclosure.pk,
                "requested_on": requested_on.isoformat() if requested_on else "",
                "to_client": not delivered_to.strip(),
                "size": copy.size,
                "sha256": copy.sha256,
            },
        )
    return copy, content


def record_copies(client: Client) -> list[RecordCopy]:
    """The copies of the record given so far, newest first, with who produced each: one query."""
    return list(
        RecordCopy.objects.filter(client=client)
        .select_related("produced_by", "disclosure")
        .order_by("-produced_at", "-pk")
    )
