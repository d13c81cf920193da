"""Sending a signed letter, and the record of every disclosure (docs/letters.md, "Sending" and
"Disclosures").

A letter is sent only by those who may write it (services.may_write: a therapist or prescriber
on the client's care team), and only while the provider's release covers it (`release_standing`,
the one rule), checked at the moment it goes, inside a transaction that holds the provider's row
locked: the consent service takes the same lock before it records a withdrawal, so the two never
interleave and a withdrawal stops every letter not yet sent. Each way out writes a `Disclosure` in
the same transaction: an emailed one-time link, or the PDF downloaded to fax or to post. Neither
goes while the stored PDF cannot be read or is not the one signed. Disclosures made outside
kapflow (a court order, a mandated report) are recorded by hand.

The emailed link carries no clinical detail: not the client's name, not what the practice does,
only its discreet name and the link. Only the token's sha256 is kept; the link works once, for
settings.LETTER_LINK_HOURS, and the page it opens asks for a button press before it hands over the
PDF (a mail scanner that follows links must not use it up)."""

import datetime
import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client, OutsideProvider
from kapflow.consent.categories import AT_THE_CLIENTS_REQUEST, describe
from kapflow.consent.models import Signature
from kapflow.letters.models import Disclosure, DownloadLink, Letter
from kapflow.letters.releases import release_standing
from kapflow.letters.services import may_write
from kapflow.practice.models import practice_for

logger = logging.getLogger(__name__)

# 45 CFR 164.528(a)(1): an accounting covers the six years before the request. A legal period,
# not a practice's choice.
ACCOUNTING_YEARS = 6

# Staff downloads, and the address each asks for.
DOWNLOAD_METHODS = {Disclosure.Method.FAX: "fax number", Disclosure.Method.POST: "postal address"}

# Bases that HIPAA leaves out of an accounting (45 CFR 164.528(a)(1)(i), (ii) and (iv)).
EXEMPT_BASES = {Disclosure.Basis.RELEASE, Disclosure.Basis.TREATMENT, Disclosure.Basis.RIGHT_OF_ACCESS}


class SendRefused(Exception):
    """The letter may not go out now; the message says why, in words for the page."""


def token_hash(token: str) -> str:
    """What is kept of a download link's token: its sha256. The token exists only in the email."""
    return hashlib.sha256(token.encode()).hexdigest()


def _what(letter: Letter) -> str:
    """The short description of what was disclosed (45 CFR 164.528(b)(2)(iii))."""
    return f"{letter.get_kind_display()}: {'; '.join(describe(letter.categories))}"[:300]


NOT_A_SENDER = "Only a therapist or prescriber on the client's care team sends their letters."


def _checked(letter: Letter, user) -> tuple[Letter, OutsideProvider, Signature]:
    """Lock the provider's row, then read the letter and its release afresh and judge them, and
    whether `user` may send it: the people who may write it (services.may_write). Call inside
    the transaction that writes the disclosure."""
    provider = OutsideProvider.objects.select_for_update(no_key=True).filter(pk=letter.provider_id).first()
    letter = Letter.objects.select_related("client").get(pk=letter.pk)
    if not may_write(user, letter.client):
        raise SendRefused(NOT_A_SENDER)
    if provider is None:
        raise SendRefused("That provider is no longer among the client's providers.")
    if not letter.is_signed:
        raise SendRefused("Only a signed letter can be sent. Sign it first.")
    if not letter.categories:
        raise SendRefused("The letter names nothing it carries, so no release can cover it.")
    standing = release_standing(provider, letter.categories)
    if not standing.allows:
        raise SendRefused(f"Not sent: {standing.refusal}")
    return letter, provider, standing.release


def _disclosure(
    *, request, letter: Letter, provider: OutsideProvider, release: Signature, method: str, address: str
) -> Disclosure:
    disclosure = Disclosure(
        client=letter.client,
        letter=letter,
        what=_what(letter),
        provider=provider,
        recipient_name=provider.name,
        recipient_address=address,
        purpose=release.purpose or AT_THE_CLIENTS_REQUEST,
        basis=Disclosure.Basis.RELEASE,
        release=release,
        method=method,
        accountable=False,
        disclosed_by=request.user,
        disclosed_at=timezone.now(),
    )
    try:
        disclosure.full_clean()
    except ValidationError as error:
        # Something on file does not fit the record of a disclosure (say, an address too long):
        # nothing goes, and the page says what.
        raise SendRefused(f"Not sent: {_said(disclosure, error)}") from None
    disclosure.save()
    return disclosure


def _said(disclosure: Disclosure, error: ValidationError) -> str:
    """A validation error in words for the page: each field's name and what is wrong with it."""
    parts = []
    for field, messages in error.message_dict.items():
        if field == "__all__":
            parts.extend(messages)
        else:
            name = disclosure._meta.get_field(field).verbose_name
            parts.extend(f"{name}: {message}" for message in messages)
    return " ".join(parts)


def _refused(*, request, letter: Letter, method: str, why: str) -> None:
    # Written outside the refused transaction, so the refusal itself stays on the record.
    audit_record(
        request=request,
        action="kapflow.letters.letter.send_refused",
        client=letter.client,
        obj=letter,
        detail={"method": method, "why": why},
    )


def letter_send_link(*, request, letter: Letter) -> DownloadLink:
    """Email the provider a one-time link to the signed letter's PDF and record the disclosure.
    Raises SendRefused (with the refusal audited) when the letter may not go."""
    try:
        return _send_link(request=request, letter=letter)
    except SendRefused as refusal:
        _refused(request=request, letter=letter, method=Disclosure.Method.LINK, why=str(refusal))
        raise


@transaction.atomic
def _send_link(*, request, letter: Letter) -> DownloadLink:
    letter, provider, release = _checked(letter, request.user)
    email = provider.email.strip()
    if not email:
        raise SendRefused(
            f"No email address is on file for {provider.name}. Add one, or send it by fax or post."
        )
    # The provider must be able to download what the email promises: nothing is recorded or
    # sent while the stored PDF cannot be read or is not the one signed.
    _pdf_bytes(letter)
    disclosure = _disclosure(
        request=request,
        letter=letter,
        provider=provider,
        release=release,
        method=Disclosure.Method.LINK,
        address=email,
    )
    token = secrets.token_urlsafe(32)
    hours = settings.LETTER_LINK_HOURS
    link = DownloadLink(
        letter=letter,
        disclosure=disclosure,
        token_hash=token_hash(token),
        email=email,
        expires_at=disclosure.disclosed_at + datetime.timedelta(hours=hours),
        created_at=disclosure.disclosed_at,
    )
    link.full_clean()
    link.save()
    audit_record(
        request=request,
        action="kapflow.letters.letter.sent",
        client=letter.client,
        obj=disclosure,
        detail={
            "letter": letter.pk,
            "method": Disclosure.Method.LINK,
            "provider": provider.pk,
            "release": release.pk,
            "expires_at": link.expires_at.isoformat(),
        },
    )
    practice = practice_for(request)
    url = settings.SITE_URL + reverse("letter_links:download", args=[token])
    name, phone = practice.discreet_name, practice.phone
    transaction.on_commit(
        lambda: send_letter_link.enqueue(
            to=email, practice_name=name, practice_phone=phone, link=url, hours=hours
        )
    )
    return link


@task()
def send_letter_link(*, to: str, practice_name: str, practice_phone: str, link: str, hours: int):
    """The provider's email: the practice's discreet name and the link, nothing about the client."""
    context = {"practice_name": practice_name, "practice_phone": practice_phone, "link": link, "hours": hours}
    send_mail(
        subject=" ".join(render_to_string("letters/email/link_subject.txt", context).split()),
        message=render_to_string("letters/email/link.txt", context),
        from_email=None,
        recipient_list=[to],
    )


def letter_download(*, request, letter: Letter, method: str, address: str) -> tuple[Disclosure, bytes]:
    """The signed letter's PDF for a staff member to fax or post to the provider at `address`,
    and the disclosure recorded for it. Raises SendRefused (audited) when it may not go."""
    try:
        return _download(request=request, letter=letter, method=method, address=address)
    except SendRefused as refusal:
        _refused(request=request, letter=letter, method=method, why=str(refusal))
        raise


@transaction.atomic
def _download(*, request, letter: Letter, method: str, address: str) -> tuple[Disclosure, bytes]:
    if method not in DOWNLOAD_METHODS:
        raise SendRefused("Choose fax or post.")
    letter, provider, release = _checked(letter, request.user)
    content = _pdf_bytes(letter)
    disclosure = _disclosure(
        request=request,
        letter=letter,
        provider=provider,
        release=release,
        method=method,
        address=address.strip(),
    )
    audit_record(
        request=request,
        action="kapflow.letters.letter.downloaded",
        client=letter.client,
        obj=disclosure,
        detail={"letter": letter.pk, "method": method, "provider": provider.pk, "release": release.pk},
    )
    return disclosure, content


def _pdf_bytes(letter: Letter) -> bytes:
    """The PDF fixed at signing, checked against the hash kept with it."""
    try:
        with letter.pdf.open("rb") as file:
            content = file.read()
    except (OSError, ValueError):
        raise SendRefused("The letter's PDF cannot be read from storage. Tell the practice admin.") from None
    if hashlib.sha256(content).hexdigest() != letter.pdf_sha256:
        raise SendRefused("The letter's PDF is not the one that was signed. Tell the practice admin.")
    return content


# The public download page ----------------------------------------------------------------------


def _link_for(token: str, *, lock: bool) -> DownloadLink | None:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    links = DownloadLink.objects.select_related("letter__client", "letter__provider")
    if lock:
        links = links.select_for_update(of=("self",), no_key=True)
    return links.filter(token_hash=token_hash(token)).first()


def _why_not(link: DownloadLink | None, now: datetime.datetime, *, lock: bool) -> str:
    """Why the link cannot be used now ("unknown", "used", "expired", "release"), or "" when it
    can. With `lock`, the provider's row is locked before the release is read, as when a letter
    is sent (the withdrawal of a release stops a letter whose link was not yet used)."""
    if link is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    if link.expires_at <= now:
        return "expired"
    providers = OutsideProvider.objects.select_for_update(no_key=True) if lock else OutsideProvider.objects
    provider = providers.filter(pk=link.letter.provider_id).first()
    if provider is None or not release_standing(provider, link.letter.categories).allows:
        return "release"
    return ""


def link_open(*, request, token: str) -> bool:
    """Whether the link may still be used (the page then offers its button): known, not used,
    not run out, and its release still standing. Audited either way; the page says nothing of
    why a link is refused."""
    link = _link_for(token, lock=False)
    why = _why_not(link, timezone.now(), lock=False)
    audit_record(
        request=request,
        action="kapflow.letters.link.refused" if why else "kapflow.letters.link.opened",
        client=link.letter.client if link else None,
        obj=link,
        detail={"why": why} if why else {},
    )
    return not why


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes


def link_use(*, request, token: str) -> Download | None:
    """Hand over the letter's PDF once: mark the link used (when and from where), audited. None
    for a link that is unknown, used, expired, or whose release no longer stands."""
    with transaction.atomic():
        link = _link_for(token, lock=True)
        now = timezone.now()
        why = _why_not(link, now, lock=True)
        content = b""
        if not why:
            try:
                content = _pdf_bytes(link.letter)
            except SendRefused:
                why = "unreadable"
                # The provider was promised a letter they cannot have: someone must be told.
                logger.error(
                    "Letter %s: its stored PDF could not be read or is not the one signed, so a "
                    "provider's download link (%s) was refused.",
                    link.letter_id,
                    link.pk,
                )
        if not why:
            link.used_at, link.used_from = now, getattr(request, "client_ip", None)
            link.save(update_fields=["used_at", "used_from"])
            audit_record(
                request=request,
                action="kapflow.letters.link.used",
                client=link.letter.client,
                obj=link,
                detail={"letter": link.letter_id, "disclosure": link.disclosure_id},
            )
            return Download(f"letter-{link.letter_id}.pdf", content)
    audit_record(
        request=request,
        action="kapflow.letters.link.refused",
        client=link.letter.client if link else None,
        obj=link,
        detail={"why": why},
    )
    return None


# Disclosures -----------------------------------------------------------------------------------


def is_accountable(basis: str) -> bool:
    """Whether HIPAA asks for a disclosure on this basis in an accounting (45 CFR 164.528(a))."""
    return basis not in EXEMPT_BASES


@transaction.atomic
def disclosure_record(
    *,
    request,
    client: Client,
    what: str,
    recipient_name: str,
    recipient_address: str,
    purpose: str,
    basis: str,
    disclosed_on: datetime.date,
) -> Disclosure:
    """Record a disclosure made outside kapflow (a court order, a report to public health...), as
    one of those who may send the client's letters (services.may_write). Never under a release:
    letters under a release are sent, and recorded, by kapflow."""
    if basis == Disclosure.Basis.RELEASE:
        raise ValueError("a disclosure under a release is recorded when the letter is sent")
    if not may_write(request.user, client):
        raise SendRefused("Only a therapist or prescriber on the client's care team records its disclosures.")
    now = timezone.now()
    if disclosed_on >= timezone.localdate(now):
        disclosed_at = now
    else:
        # A day in the past, without its hour: noon of that day, in the practice's time zone.
        disclosed_at = timezone.make_aware(datetime.datetime.combine(disclosed_on, datetime.time(12)))
    disclosure = Disclosure(
        client=client,
        what=what.strip(),
        recipient_name=recipient_name.strip(),
        recipient_address=recipient_address.strip(),
        purpose=purpose.strip(),
        basis=basis,
        method=Disclosure.Method.OTHER,
        accountable=is_accountable(basis),
        disclosed_by=request.user,
        disclosed_at=disclosed_at,
    )
    disclosure.full_clean()
    disclosure.save()
    audit_record(
        request=request,
        action="kapflow.letters.disclosure.recorded",
        client=client,
        obj=disclosure,
        detail={"basis": basis, "accountable": disclosure.accountable, "on": disclosed_on.isoformat()},
    )
    return disclosure


def letter_disclosures(letter: Letter) -> list[Disclosure]:
    """Where one letter has gone so far, newest first, with who sent it and its link: one query."""
    return list(
        letter.disclosures.select_related("disclosed_by", "release", "download_link").order_by(
            "-disclosed_at", "-pk"
        )
    )


def accounting_start(asked_on: datetime.date) -> datetime.date:
    """The first day an accounting asked for on `asked_on` covers."""
    try:
        return asked_on.replace(year=asked_on.year - ACCOUNTING_YEARS)
    except ValueError:  # 29 February
        return asked_on.replace(year=asked_on.year - ACCOUNTING_YEARS, day=28)


def client_disclosures(client: Client) -> list[Disclosure]:
    """Every disclosure of the client's information, newest first, with the letter, the release,
    who disclosed and (for a link) whether it was used: one query."""
    return list(
        Disclosure.objects.filter(client=client)
        .select_related("letter", "release", "disclosed_by", "download_link")
        .order_by("-disclosed_at", "-pk")
    )


def accounting(client: Client, *, asked_on: datetime.date, required_only: bool) -> list[Disclosure]:
    """The disclosures an accounting asked for on `asked_on` lists: the six years before it,
    oldest first; with `required_only`, only those HIPAA asks for."""
    since = timezone.make_aware(datetime.datetime.combine(accounting_start(asked_on), datetime.time()))
    disclosures = Disclosure.objects.filter(client=client, disclosed_at__gte=since).select_related(
        "download_link"
    )
    if required_only:
        disclosures = disclosures.filter(accountable=True)
    return list(disclosures.order_by("disclosed_at", "pk"))


def access_copies(client: Client, *, asked_on: datetime.date) -> list[Disclosure]:
    """The copies of the record given to the client (or to a person they named) under their right
    of access in the period an accounting asked for on `asked_on` covers, oldest first. HIPAA does
    not require them in an accounting (45 CFR 164.528(a)(1)(ii)); ours lists them in a section of
    their own, so the client sees every copy given (docs/right-of-access.md)."""
    since = timezone.make_aware(datetime.datetime.combine(accounting_start(asked_on), datetime.time()))
    return list(
        Disclosure.objects.filter(
            client=client, disclosed_at__gte=since, basis=Disclosure.Basis.RIGHT_OF_ACCESS
        )
        .select_related("download_link")
        .order_by("disclosed_at", "pk")
    )
