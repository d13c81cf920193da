"""The demo's work with the outside world (issue 14): one client of Dana Whitfield's, a therapist
who does not prescribe, whose medical decisions come from an outside psychiatrist by letter, and
whose own long-standing therapist outside the practice is kept informed under a release.

* Dr Anil Raman, psychiatrist, outside the practice, has no account. His signed clearance letter
  and his prescription are filed on the chart as PDFs and transcribed, each field confirmed; the
  gates accept them ("Cleared by Dr Anil Raman (outside) …"). Nobody of the practice's own
  prescribers is on this client's care team.
* Maya Lin, LMFT, is the client's own therapist, with a current release.
* After the client's latest signed medication session, a post-session summary went to Dr Raman,
  made, signed and downloaded to fax through the product's own services, so it is on the chart's
  letters and disclosures as any letter would be. A collaboration letter to Maya Lin waits as a
  draft for the clinician to preview, sign and send.

Added once: the medical part as the demo's screenings are written, the letters once the sessions
are recorded."""

import datetime
import hashlib
import types
from decimal import Decimal

from django.core.files.base import ContentFile
from django.utils import timezone
from weasyprint import HTML

from kapflow.clients.models import CareTeamMember, Client, OutsideProvider
from kapflow.consent.categories import AT_THE_CLIENTS_REQUEST, Category
from kapflow.consent.models import Kind, Signature
from kapflow.consent.selectors import current_documents, name_on_file
from kapflow.documents.models import ChartDocument
from kapflow.dosing.models import Runbook
from kapflow.letters import sending
from kapflow.letters import services as letters
from kapflow.letters.models import Letter
from kapflow.medical.models import Clearance, MedicationOrder
from kapflow.medical.services import CLEARANCE_TRANSCRIBED, ORDER_TRANSCRIBED
from kapflow.practice.models import Practice

PSYCHIATRIST = "Dr Anil Raman"
PSYCHIATRIST_CREDENTIALS = "MD, board-certified psychiatrist"
# A made-up NPI whose check digit is right (kapflow.medical.outside), as a filing needs.
PSYCHIATRIST_NPI = "1234567893"
PSYCHIATRIST_PRACTICE = "Raman Psychiatry, 5525 Etiwanda Ave, Tarzana, CA 91356"
THERAPIST = "Maya Lin, LMFT"
FINDINGS = "BP 122/78, HR 72; no cardiovascular, hepatic or psychotic history; no substance use disorder."

# What each release lets the practice send (kapflow.consent.categories).
PSYCHIATRIST_SHARES = [c.value for c in Category]
THERAPIST_SHARES = [Category.COURSE.value, Category.MEASURES.value, Category.ADVERSE_EVENTS.value]


def outside_client() -> Client | None:
    """The client of the story: the first adult in a course whose primary therapist is the owner
    (Dana Whitfield, who does not prescribe)."""
    candidates = Client.objects.filter(
        stage=Client.Stage.COURSE,
        care_team__role=CareTeamMember.Role.PRIMARY_THERAPIST,
        care_team__user__email__startswith="owner@",
    ).order_by("pk")
    return next((client for client in candidates if not client.is_minor), None)


def _pdf(title: str, paragraphs: list[str]) -> bytes:
    """A one-page letter from the outside psychiatrist's office, as it would arrive scanned."""
    body = "".join(f"<p>{text}</p>" for text in paragraphs)
    return HTML(
        string=(
            f"<html><body style='font-family: serif; font-size: 11pt'>"
            f"<p><strong>{PSYCHIATRIST}, {PSYCHIATRIST_CREDENTIALS}</strong><br>{PSYCHIATRIST_PRACTICE}"
            f"<br>NPI {PSYCHIATRIST_NPI}</p><h1 style='font-size: 14pt'>{title}</h1>{body}"
            f"<p>Signed: {PSYCHIATRIST}</p></body></html>"
        )
    ).write_pdf()


def _filed(client, kind, title, content: bytes, *, provider, dated, by, at) -> ChartDocument:
    return ChartDocument.objects.create(
        client=client,
        kind=kind,
        title=title,
        received_from=PSYCHIATRIST,
        provider=provider,
        dated=dated,
        file=ContentFile(content, name="letter.pdf"),
        original_name=f"{title}.pdf",
        content_type="application/pdf",
        extension=".pdf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=by,
        uploaded_at=at,
    )


def release_signature(document, provider, categories, *, presented_by, signed_at) -> Signature:
    """The client's agreement to `provider`'s release (unsaved), as the office's signing page
    records it: the terms, the typed name and the hash of the text shown. The provider's expiry
    is the release's."""
    client = provider.client
    return Signature(
        document=document,
        kind=Kind.RELEASE,
        client=client,
        signer=Signature.Signer.CLIENT,
        provider=provider,
        signer_name=name_on_file(client),
        provider_name=provider.name,
        typed_name=name_on_file(client),
        decision=Signature.Decision.AGREE,
        release_expires_on=provider.release_expires_on,
        categories=categories,
        purpose=AT_THE_CLIENTS_REQUEST,
        signed_at=signed_at,
        ip_address="127.0.0.1",
        text_sha256=document.sha256,
        presented_by=presented_by,
    )


def _release(provider, categories, *, presented_by, signed_at, expires_on) -> None:
    """The client's signed release for `provider`, with the provider's mirrored status
    (kapflow.consent.services._release_follow)."""
    provider.release = OutsideProvider.Release.SIGNED
    provider.release_expires_on = expires_on
    provider.release_categories = categories
    provider.save(update_fields=["release", "release_expires_on", "release_categories"])
    document = current_documents()[Kind.RELEASE]
    release_signature(document, provider, categories, presented_by=presented_by, signed_at=signed_at).save()


def file_outside_decisions(client: Client, screening, staff, *, decided_at: datetime.datetime) -> None:
    """The outside psychiatrist's clearance letter and prescription, filed and transcribed the
    day after his evaluation (the day the practice's own prescriber would have decided), with
    the releases for him and for the client's own therapist signed the week before."""
    owner = staff["owner"]
    today = timezone.localdate()
    letter_day = timezone.localdate(decided_at) - datetime.timedelta(days=1)
    CareTeamMember.objects.filter(client=client, role=CareTeamMember.Role.PRESCRIBER).delete()
    raman = OutsideProvider.objects.create(
        client=client,
        name=PSYCHIATRIST,
        kind=OutsideProvider.Kind.PSYCHIATRIST,
        organisation="Raman Psychiatry",
        phone="(818) 555-0142",
        email="office@raman-psychiatry.example.com",
    )
    lin = OutsideProvider.objects.create(
        client=client,
        name=THERAPIST,
        kind=OutsideProvider.Kind.THERAPIST,
        organisation="Lin Family Therapy",
        phone="(818) 555-0163",
        email="maya@linfamilytherapy.example.com",
    )
    signed_at = decided_at - datetime.timedelta(days=7)
    for provider, shares in ((raman, PSYCHIATRIST_SHARES), (lin, THERAPIST_SHARES)):
        _release(
            provider,
            shares,
            presented_by=owner,
            signed_at=signed_at,
            expires_on=today + datetime.timedelta(days=340),
        )
    valid_until = today + datetime.timedelta(days=335)
    clearance_pdf = _pdf(
        "Medical clearance for ketamine-assisted psychotherapy",
        [
            f"Re: {name_on_file(client)}, date of birth {client.date_of_birth:%B %-d, %Y}.",
            f"I evaluated this patient on {letter_day - datetime.timedelta(days=2):%B %-d, %Y}. "
            "Blood pressure 122/78, heart rate 72; no cardiovascular, hepatic or psychotic history; "
            "no substance use disorder.",
            f"Decision: medically cleared for ketamine-assisted psychotherapy, valid until "
            f"{valid_until:%B %-d, %Y}.",
        ],
    )
    at = decided_at
    letter = _filed(
        client,
        ChartDocument.Kind.CLEARANCE,
        f"Clearance letter from {PSYCHIATRIST}",
        clearance_pdf,
        provider=raman,
        dated=letter_day,
        by=owner,
        at=at - datetime.timedelta(minutes=10),
    )
    Clearance.objects.create(
        client=client,
        screening=screening,
        decided_at=at,
        decision=Clearance.Decision.CLEARED,
        findings=FINDINGS,
        valid_until=valid_until,
        outside_provider=raman,
        document=letter,
        outside_name=PSYCHIATRIST,
        outside_credentials="MD",
        outside_npi=PSYCHIATRIST_NPI,
        letter_dated=letter_day,
        confirmed_fields=list(CLEARANCE_TRANSCRIBED),
        filed_by=owner,
        filed_at=at,
    )
    prescription_pdf = _pdf(
        "Prescription",
        [
            f"Patient: {name_on_file(client)}.",
            "Ketamine HCl 100 mg sublingual troche. Dispense: 24 (twenty-four). Sig: 200–300 mg "
            "sublingually at each supervised session, one 100 mg booster if needed. For 6 sessions.",
            "Pharmacy: Ventura Compounding Pharmacy, Sherman Oaks.",
        ],
    )
    prescription = _filed(
        client,
        ChartDocument.Kind.PRESCRIPTION,
        f"Prescription from {PSYCHIATRIST}",
        prescription_pdf,
        provider=raman,
        dated=letter_day,
        by=owner,
        at=at - datetime.timedelta(minutes=5),
    )
    MedicationOrder.objects.create(
        client=client,
        created_at=at,
        drug=MedicationOrder.Drug.KETAMINE,
        route=MedicationOrder.Route.SUBLINGUAL,
        unit=MedicationOrder.Unit.MG,
        dose_min=200,
        dose_max=300,
        boosters_allowed=1,
        booster_max_mg=100,
        sessions_authorised=6,
        starts_on=letter_day,
        ends_on=today + datetime.timedelta(days=150),
        instructions="Hold the troche under the tongue; spit, do not swallow, after 15 minutes.",
        outside_provider=raman,
        document=prescription,
        outside_name=PSYCHIATRIST,
        outside_npi=PSYCHIATRIST_NPI,
        prescribed_on=letter_day,
        strength_form="Ketamine HCl 100 mg sublingual troche",
        strength_mg=Decimal("100"),
        quantity=24,
        directions="200–300 mg sublingually at each supervised session; one 100 mg booster if needed.",
        sessions_prescribed=6,
        pharmacy="Ventura Compounding Pharmacy, Sherman Oaks",
        fill_date=letter_day + datetime.timedelta(days=1),
        confirmed_fields=list(ORDER_TRANSCRIBED),
        filed_by=owner,
        filed_at=at,
    )


def add_letters_story(staff) -> None:
    """The post-session summary of the client's latest signed session, signed and faxed to the
    outside psychiatrist; a collaboration letter to the client's own therapist in draft. Through
    the letters' own services, as Dana Whitfield, so the release is checked as for any letter."""
    client = outside_client()
    if client is None or Letter.objects.filter(client=client).exists():
        return
    raman = client.outside_providers.filter(name=PSYCHIATRIST).first()
    lin = client.outside_providers.filter(name=THERAPIST).first()
    if raman is None or lin is None:
        return
    as_owner = types.SimpleNamespace(user=staff["owner"])
    practice = Practice.load()
    latest = (
        Runbook.objects.filter(visit__client=client, signed_at__isnull=False).order_by("-signed_at").first()
    )
    if latest is not None:
        summary = letters.letter_create(
            request=as_owner,
            client=client,
            kind=Letter.Kind.POST_SESSION,
            provider=raman,
            categories=[Category.SESSIONS, Category.ADVERSE_EVENTS],
            runbook=latest,
            body="Thank you for following our shared client. The session went as planned.",
        )
        summary = letters.letter_sign(request=as_owner, letter=summary, practice=practice)
        sending.letter_download(
            request=as_owner, letter=summary, method="fax", address="Raman Psychiatry fax (818) 555-0143"
        )
    letters.letter_create(
        request=as_owner,
        client=client,
        kind=Letter.Kind.COLLABORATION,
        provider=lin,
        categories=[Category.COURSE],
        body=(
            f"{name_on_file(client)} asked us to keep you informed while they take part in a course of "
            "ketamine-assisted psychotherapy with us, alongside their work with you."
        ),
    )
