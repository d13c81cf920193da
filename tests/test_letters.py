"""Issue 14: letters and summaries as PDF. Four kinds, each carrying the categories its kind
can carry, read from the chart's structured records only; refused unless the provider's
release covers them; signed once, stored, and locked in the service and in the database."""

import datetime
import io
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from kapflow.audit.models import AuditEvent
from kapflow.clients.models import OutsideProvider
from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.dosing import rules
from kapflow.dosing.models import Administration, AdverseEvent, Note, Rating, Runbook, VitalsReading
from kapflow.journal.models import JournalEntry
from kapflow.letters import compose, pdf, services
from kapflow.letters.models import Letter
from kapflow.measures.models import Response
from kapflow.medical.models import Screening
from kapflow.pathway.models import Consultation, CoursePlan
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories

# Written where a letter must never look: the client's journal, the runbook's free-text notes,
# and the consultation clinician's own note.
JOURNAL_PHRASE = "Marmalade lighthouse whispering"
NOTE_PHRASE = "Tangerine semaphore drifting"
PRIVATE_NOTE_PHRASE = "Cobalt weathervane murmuring"
EVERY_CATEGORY = ["course", "history", "medical", "sessions", "measures", "adverse_events"]


class Request:
    """What a service needs of a request: the person acting."""

    def __init__(self, user):
        self.user = user


def _text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


def _release(client, provider, categories, *, by, expires=None, decision="agree"):
    document = ConsentDocument.objects.filter(kind=Kind.RELEASE, published_at__isnull=False).first()
    if document is None:
        document = ConsentDocument.objects.create(
            kind=Kind.RELEASE,
            version=1,
            title="Release of information",
            body="I agree.",
            published_at=timezone.now(),
        )
    return Signature.objects.create(
        document=document,
        kind=Kind.RELEASE,
        client=client,
        signer=Signature.Signer.CLIENT,
        provider=provider,
        signer_name=client.first_name,
        provider_name=provider.name,
        typed_name=client.first_name,
        decision=decision,
        release_expires_on=expires,
        categories=categories if decision == "agree" else [],
        text_sha256=document.sha256,
        presented_by=by,
    )


@pytest.fixture
def practice(db):
    practice = Practice.load()
    practice.name = "Harbour Light Therapy"
    practice.address = "12 Quay Street, Portland, OR 97201"
    practice.phone = "(503) 555-0140"
    practice.email = "office@harbourlight.example"
    practice.save()
    return practice


@pytest.fixture
def provider(avery, tess):
    provider = OutsideProvider.objects.create(
        client=avery,
        name="Dr. Rowan Reyes",
        kind=OutsideProvider.Kind.PSYCHIATRIST,
        organisation="Reyes Clinic",
    )
    _release(avery, provider, EVERY_CATEGORY, by=tess)
    return provider


def _session(client, *, therapist, prescriber, days_ago: int, practice) -> Runbook:
    """A completed, signed medication session with a dose, vitals (one over the alert level),
    a rating, an adverse event, a discharge and a free-text note."""
    start = timezone.now() - datetime.timedelta(days=days_ago, hours=3)
    visit = Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        status=Visit.Status.COMPLETED,
        modality=Visit.Modality.VIRTUAL,
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=2),
        clinician=therapist,
        created_by=therapist,
    )
    order = factories.standing_order(client, prescriber)
    runbook = Runbook.objects.create(visit=visit)
    before = rules.Reading(start, 122, 78, 70, 98)
    VitalsReading.objects.create(
        runbook=runbook,
        phase="pre_dose",
        taken_at=start,
        systolic=122,
        diastolic=78,
        heart_rate=70,
        spo2=98,
        alerts=[],
        recorded_by=therapist,
    )
    Administration.objects.create(
        runbook=runbook,
        order=order,
        given_at=start + datetime.timedelta(minutes=5),
        route="sublingual",
        dose_mg=Decimal("175"),
        lot_number="L1",
        given_by=prescriber,
        recorded_by=prescriber,
    )
    high = rules.Reading(start + datetime.timedelta(minutes=45), 168, 96, 88, 97)
    VitalsReading.objects.create(
        runbook=runbook,
        phase="in_session",
        taken_at=high.taken_at,
        systolic=168,
        diastolic=96,
        heart_rate=88,
        spo2=97,
        alerts=rules.reading_alerts(high, baseline=before, practice=practice),
        recorded_by=therapist,
    )
    Rating.objects.create(
        runbook=runbook,
        rated_at=start + datetime.timedelta(minutes=50),
        sedation=2,
        dissociation=3,
        recorded_by=therapist,
    )
    AdverseEvent.objects.create(
        runbook=runbook,
        noted_at=start + datetime.timedelta(minutes=55),
        kind="nausea",
        severity="moderate",
        action_taken="Ondansetron offered, settled within twenty minutes.",
        recorded_by=therapist,
    )
    Note.objects.create(
        runbook=runbook, written_at=start + datetime.timedelta(minutes=60), text=NOTE_PHRASE, author=therapist
    )
    Runbook.objects.filter(pk=runbook.pk).update(
        discharged_at=start + datetime.timedelta(minutes=120),
        discharged_by=therapist,
        alert_and_oriented=True,
        steady_on_feet=True,
        escort_present=True,
    )
    Runbook.objects.filter(pk=runbook.pk).update(
        signed_at=start + datetime.timedelta(minutes=130), signed_by=therapist
    )
    return Runbook.objects.select_related("visit").get(pk=runbook.pk)


@pytest.fixture
def chart(avery, tess, priya, practice):
    """Avery's chart with something in every part a letter reads, and where none may look."""
    now = timezone.now()
    Consultation.objects.create(
        client=avery,
        held_on=timezone.localdate() - datetime.timedelta(days=90),
        clinician=tess,
        why_kap="Depression unchanged by two antidepressants",
        history="h",
        previous_treatment="Sertraline, then bupropion",
        supports="s",
        expectations="e",
        goals="Return to work and to running",
        note=PRIVATE_NOTE_PHRASE,
        decision=Consultation.Decision.PROCEED,
    )
    Screening.objects.create(
        client=avery,
        answers={"vascular": False},
        age=35,
        medications=[{"name": "Lamotrigine 100 mg", "class": "lamotrigine"}],
        flags=[
            {
                "key": "medication-0",
                "level": "review",
                "label": "Lamotrigine 100 mg",
                "reason": "May blunt the effect.",
                "kind": "medication",
            }
        ],
    )
    CoursePlan.objects.create(
        client=avery, goals="Lift the depression; rebuild routine", planned_sessions=6, updated_by=tess
    )
    sessions = [
        _session(avery, therapist=tess, prescriber=priya, days_ago=days, practice=practice)
        for days in (30, 10)
    ]
    first_start = sessions[0].visit.starts_at
    for total, at in ((20, first_start - datetime.timedelta(days=2)), (6, now - datetime.timedelta(days=1))):
        Response.objects.create(
            client=avery, instrument="phq9", version="1", answers={}, total=total, band="x", completed_at=at
        )
    for total, at in ((15, first_start - datetime.timedelta(days=2)), (9, now - datetime.timedelta(days=1))):
        Response.objects.create(
            client=avery, instrument="gad7", version="1", answers={}, total=total, band="x", completed_at=at
        )
    JournalEntry.objects.create(
        client=avery, body=JOURNAL_PHRASE, written_at=now, updated_at=now, shared_at=now
    )
    return {"sessions": sessions}


def _draft(user, client, provider, kind, runbook=None, categories=None, **fields):
    return services.letter_create(
        request=Request(user),
        client=client,
        kind=kind,
        provider=provider,
        runbook=runbook,
        categories=compose.spec(kind).categories if categories is None else categories,
        **fields,
    )


# What each kind's PDF says, read from the chart fixture.
EXPECTED = {
    Letter.Kind.REFERRAL: [
        "Referral for a medical evaluation",
        "Depression unchanged by two antidepressants",
        "Sertraline, then bupropion",
        "Lamotrigine 100 mg",
        "May blunt the effect.",
        "Go on to screening",
    ],
    Letter.Kind.POST_SESSION: [
        "Post-session summary",
        "175 mg",
        "168/96",
        "Systolic rose 46 mmHg from the pre-dose 122",
        "2 — moderately sedated",
        "3 — severe",
        "Nausea or vomiting",
        "Ondansetron offered",
        "Alert and oriented",
    ],
    Letter.Kind.COLLABORATION: [
        "Collaboration letter",
        "Medication sessions completed 2",
        "Lift the depression",
        "Please call me about the next steps.",
    ],
    Letter.Kind.DISCHARGE: [
        "Discharge summary",
        "Medication sessions completed 2",
        "PHQ-9",
        "GAD-7",
        "-14",
        "Nausea or vomiting",
        "Continue weekly therapy.",
    ],
}


@pytest.mark.parametrize("kind", list(Letter.Kind))
def test_it_prints_each_kind_with_the_chart_s_facts_and_nothing_private(
    kind, chart, avery, tess, provider, practice, login
):
    runbook = chart["sessions"][-1] if kind == Letter.Kind.POST_SESSION else None
    letter = _draft(
        tess,
        avery,
        provider,
        kind,
        runbook=runbook,
        body="Please call me about the next steps.",
        recommendations="Continue weekly therapy.",
    )
    response = login(tess).post(reverse("letters:sign", args=[avery.pk, letter.pk]))
    assert response.status_code == 302
    letter.refresh_from_db()
    assert letter.is_signed and letter.signed_by == tess
    content = pdf.signed_pdf_bytes(letter)
    assert pdf.sha256(content) == letter.pdf_sha256
    text = _text(content)
    for expected in EXPECTED[kind]:
        assert expected in text, expected
    for letterhead in (
        "Harbour Light Therapy",
        "12 Quay Street",
        "(503) 555-0140",
        "office@harbourlight.example",
    ):
        assert letterhead in text
    for private in (JOURNAL_PHRASE, NOTE_PHRASE, PRIVATE_NOTE_PHRASE):
        assert private not in text
        assert private not in str(letter.facts)
    assert AuditEvent.objects.filter(
        action="kapflow.letters.letter.signed", object_id=str(letter.pk)
    ).exists()


def test_remission_and_response_follow_the_measures_definitions(chart, avery):
    from kapflow.letters.selectors import measures_change

    rows = {row[0]: row for row in measures_change(avery)["tables"][0]["rows"]}
    # PHQ-9 20 -> 6: a fall of more than half, and not below its remission threshold (5).
    assert rows["PHQ-9"][4:] == ["Yes", "No"]
    # GAD-7 15 -> 9: less than half; not below 5.
    assert rows["GAD-7"][4:] == ["No", "No"]


@pytest.mark.parametrize(
    "standing, reason",
    [
        ("none", "has no signed release of information"),
        ("revoked", "revoked the release of information"),
        ("expired", "has expired"),
        ("narrow", "does not cover"),
    ],
)
def test_it_refuses_a_letter_the_release_does_not_cover(standing, reason, chart, avery, tess, login):
    provider = OutsideProvider.objects.create(
        client=avery, name="Dr. Kim Park", kind=OutsideProvider.Kind.THERAPIST
    )
    if standing == "revoked":
        _release(avery, provider, ["course"], by=tess)
        _release(avery, provider, [], by=tess, decision="revoke")
    elif standing == "expired":
        _release(
            avery, provider, ["course"], by=tess, expires=timezone.localdate() - datetime.timedelta(days=1)
        )
    elif standing == "narrow":
        _release(avery, provider, ["measures"], by=tess)
    with pytest.raises(services.LetterRefused, match=reason):
        _draft(tess, avery, provider, Letter.Kind.COLLABORATION)
    # The page says why, keeps what was typed, and makes nothing.
    response = login(tess).post(
        reverse("letters:new", args=[avery.pk]) + "?kind=collaboration",
        {"provider": provider.pk, "categories": ["course"], "body": "Dear Dr. Park, a note about Avery."},
    )
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert "Dear Dr. Park, a note about Avery." in response.content.decode()
    assert not Letter.objects.filter(provider=provider).exists()


def test_a_release_for_dates_of_care_does_not_carry_the_clients_own_account(chart, avery, tess):
    """The referral's consultation narrative (why KAP, previous treatment, goals) is a category
    of its own: a release naming "dates of care and a summary of the course" does not cover it."""
    psychiatrist = OutsideProvider.objects.create(
        client=avery, name="Dr. Lee Moss", kind=OutsideProvider.Kind.PSYCHIATRIST
    )
    _release(avery, psychiatrist, ["course", "medical"], by=tess)
    with pytest.raises(services.LetterRefused, match="does not cover: Why treatment is sought"):
        _draft(tess, avery, psychiatrist, Letter.Kind.REFERRAL)
    letter = _draft(tess, avery, psychiatrist, Letter.Kind.REFERRAL, categories=["medical"])
    facts = compose.compose(
        client=avery, kind=letter.kind, categories=letter.categories, runbook=None, practice=Practice.load()
    )
    assert "Depression unchanged by two antidepressants" not in str(facts)


def test_signing_is_refused_once_the_release_is_revoked(chart, avery, tess, provider, login):
    letter = _draft(tess, avery, provider, Letter.Kind.COLLABORATION)
    _release(avery, provider, [], by=tess, decision="revoke")
    response = login(tess).post(reverse("letters:sign", args=[avery.pk, letter.pk]), follow=True)
    assert "revoked the release of information" in response.content.decode()
    letter.refresh_from_db()
    assert not letter.is_signed and not letter.pdf


@pytest.fixture
def signed(chart, avery, tess, provider, practice):
    letter = _draft(tess, avery, provider, Letter.Kind.COLLABORATION, body="First words.")
    return services.letter_sign(request=Request(tess), letter=letter, practice=practice)


def test_a_signed_letter_s_row_refuses_update_and_delete_in_the_database(signed):
    for change in (
        lambda: Letter.objects.filter(pk=signed.pk).update(body="Changed afterwards."),
        lambda: Letter.objects.filter(pk=signed.pk).update(pdf_sha256="0" * 64),
        lambda: Letter.objects.filter(pk=signed.pk).update(signed_at=timezone.now()),
        lambda: Letter.objects.filter(pk=signed.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    signed.refresh_from_db()
    assert signed.body == "First words."


def test_editing_a_signed_letter_is_refused_by_the_service(signed, tess, practice, avery, login):
    with pytest.raises(services.LetterRefused, match="signed"):
        services.letter_update(
            request=Request(tess), letter=signed, categories=["course"], body="More.", recommendations=""
        )
    with pytest.raises(services.LetterRefused, match="signed"):
        services.letter_sign(request=Request(tess), letter=signed, practice=practice)
    response = login(tess).post(
        reverse("letters:detail", args=[avery.pk, signed.pk]),
        {"categories": ["course"], "body": "More."},
        follow=True,
    )
    assert "cannot be changed" in response.content.decode()
    signed.refresh_from_db()
    assert signed.body == "First words."


def test_the_signed_pdf_is_served_as_stored_never_printed_again(signed, avery, tess, practice, login):
    practice.name = "A New Name Entirely"
    practice.save()
    response = login(tess).get(reverse("letters:pdf", args=[avery.pk, signed.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert pdf.sha256(response.content) == signed.pdf_sha256
    assert "A New Name Entirely" not in _text(response.content)
    event = AuditEvent.objects.filter(action="kapflow.letters.pdf.viewed").latest("pk")
    assert (event.actor, event.client, event.object_id, event.detail["signed"]) == (
        tess,
        avery,
        str(signed.pk),
        True,
    )


def test_a_draft_is_previewed_with_its_release_standing_and_sends_less_when_unticked(
    chart, avery, tess, provider, login
):
    letter = _draft(tess, avery, provider, Letter.Kind.DISCHARGE)
    http = login(tess)
    page = http.get(reverse("letters:detail", args=[avery.pk, letter.pk])).content.decode()
    assert "covers what this letter carries" in page
    assert "Symptom questionnaire scores" in page
    http.post(
        reverse("letters:detail", args=[avery.pk, letter.pk]),
        {"categories": ["course", "adverse_events"], "body": "Less.", "recommendations": ""},
    )
    letter.refresh_from_db()
    assert letter.categories == ["course", "adverse_events"]
    assert (
        "Symptom scores"
        not in http.get(reverse("letters:detail", args=[avery.pk, letter.pk])).content.decode()
    )


def test_a_form_with_errors_keeps_what_was_typed(avery, tess, provider, login):
    response = login(tess).post(
        reverse("letters:new", args=[avery.pk]) + "?kind=referral",
        {"body": "Could you evaluate Avery's blood pressure?"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Choose who the letter is to." in page
    assert "Could you evaluate Avery&#x27;s blood pressure?" in page


def test_only_the_care_team_writes_and_others_get_404(avery, olive, colin, cora, tess, provider, login):
    letter = _draft(tess, avery, provider, Letter.Kind.COLLABORATION)
    for user in (colin, cora):
        http = login(user)
        assert http.get(reverse("letters:new", args=[avery.pk])).status_code == 404
        assert http.get(reverse("letters:detail", args=[avery.pk, letter.pk])).status_code == 404
        assert http.post(reverse("letters:sign", args=[avery.pk, letter.pk])).status_code == 404
    # A letter is found only on its own client's chart.
    colin_http = login(colin)
    assert colin_http.get(reverse("letters:detail", args=[olive.pk, letter.pk])).status_code == 404
    with pytest.raises(services.LetterRefused):
        _draft(colin, avery, provider, Letter.Kind.COLLABORATION)


def test_the_chart_lists_the_letters(avery, tess, priya, provider, login):
    _draft(tess, avery, provider, Letter.Kind.COLLABORATION)
    chart = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    # The card comes after the chart, in its own request, so the chart's queries stay as they were.
    assert reverse("letters:card", args=[avery.pk]) in chart
    card = login(tess).get(reverse("letters:card", args=[avery.pk])).content.decode()
    assert "Collaboration letter to the client&#x27;s therapist" in card
    assert "Dr. Rowan Reyes" in card and "draft" in card
    assert reverse("letters:new", args=[avery.pk]) in card
    event = AuditEvent.objects.filter(action="kapflow.letters.card.viewed").latest("pk")
    assert (event.actor, event.client) == (tess, avery)


def test_a_draft_s_pdf_is_printed_afresh_marked_draft_and_audited(avery, tess, provider, practice, login):
    letter = _draft(tess, avery, provider, Letter.Kind.COLLABORATION, body="Early thoughts.")
    response = login(tess).get(reverse("letters:pdf", args=[avery.pk, letter.pk]))
    assert response.status_code == 200
    text = _text(response.content)
    assert "DRAFT" in text and "Early thoughts." in text
    event = AuditEvent.objects.filter(action="kapflow.letters.pdf.viewed").latest("pk")
    assert (event.actor, event.object_id, event.detail["signed"]) == (tess, str(letter.pk), False)
    letter.refresh_from_db()
    assert not letter.pdf and not letter.is_signed


def test_a_signed_pdf_that_was_altered_is_reported_not_printed_again(signed, avery, tess, login):
    from django.core.files.storage import default_storage

    default_storage.delete(signed.pdf.name)
    default_storage.save(signed.pdf.name, io.BytesIO(b"%PDF-1.4 something else"))
    with pytest.raises(pdf.TamperedFile):
        pdf.signed_pdf_bytes(signed)
    response = login(tess).get(reverse("letters:pdf", args=[avery.pk, signed.pk]))
    assert response.status_code == 503
    assert "is not the file that was signed" in response.content.decode()


def test_a_post_session_summary_is_about_a_signed_session_of_the_client(
    chart, avery, olive, tess, colin, provider, practice
):
    open_session = Runbook.objects.create(
        visit=Visit.objects.create(
            client=avery,
            kind=Visit.Kind.MEDICATION,
            modality=Visit.Modality.VIRTUAL,
            starts_at=timezone.now(),
            ends_at=timezone.now() + datetime.timedelta(hours=2),
            clinician=tess,
            created_by=tess,
        )
    )
    others = _session(olive, therapist=colin, prescriber=colin, days_ago=3, practice=practice)
    for runbook in (None, open_session, others):
        with pytest.raises(services.LetterRefused, match="whose record is signed"):
            _draft(tess, avery, provider, Letter.Kind.POST_SESSION, runbook=runbook)


# Reviewed defects of issue 14 ------------------------------------------------------------------


def test_the_footer_prints_the_practice_name_as_written(avery, tess, provider, practice, login):
    practice.name = 'O\'Brien & Sons "Care"'
    practice.save()
    letter = _draft(tess, avery, provider, Letter.Kind.COLLABORATION)
    text = _text(login(tess).get(reverse("letters:pdf", args=[avery.pk, letter.pk])).content)
    assert 'O\'Brien & Sons "Care" · page 1 of 1' in text
    assert "u0027" not in text and "u0026" not in text


def test_the_css_string_filter_leaves_nothing_that_ends_the_string_or_the_style():
    from kapflow.letters.templatetags.letters import css_string

    escaped = css_string("a\\b \"c\" 'd'\n</style><script>")
    for forbidden in ('"', "'", "\n", "<", ">"):
        assert forbidden not in escaped
    assert escaped == r"a\5c b \22 c\22  \27 d\27 \a \3c /style\3e \3c script\3e "
    assert css_string("Harbour Light Therapy") == "Harbour Light Therapy"


def _sign_url(letter):
    return reverse("letters:sign", args=[letter.client_id, letter.pk])


def test_signing_takes_what_is_typed_in_the_form(chart, avery, tess, provider, practice, login):
    letter = _draft(tess, avery, provider, Letter.Kind.COLLABORATION, body="Old words.")
    http = login(tess)
    page = http.get(reverse("letters:detail", args=[avery.pk, letter.pk])).content.decode()
    assert f'form="letter-form" formaction="{_sign_url(letter)}"' in page
    response = http.post(
        _sign_url(letter),
        {"categories": ["course"], "body": "Typed, never saved.", "recommendations": "Weekly therapy."},
        follow=True,
    )
    assert "Signed. The letter is locked" in response.content.decode()
    letter.refresh_from_db()
    assert letter.is_signed and letter.body == "Typed, never saved."
    assert letter.recommendations == "Weekly therapy."
    text = _text(pdf.signed_pdf_bytes(letter))
    assert "Typed, never saved." in text and "Weekly therapy." in text
    actions = list(
        AuditEvent.objects.filter(
            object_id=str(letter.pk),
            action__in=["kapflow.letters.letter.edited", "kapflow.letters.letter.signed"],
        )
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["kapflow.letters.letter.edited", "kapflow.letters.letter.signed"]


def test_signing_with_a_form_error_keeps_what_was_typed(chart, avery, tess, provider, login):
    letter = _draft(tess, avery, provider, Letter.Kind.COLLABORATION, body="Old words.")
    response = login(tess).post(_sign_url(letter), {"body": "Words I typed."})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Choose at least one part of the record for the letter to carry." in page
    assert "Words I typed." in page
    letter.refresh_from_db()
    assert not letter.is_signed and letter.body == "Old words."


def test_signing_what_was_typed_is_refused_whole_when_the_release_is_revoked(
    chart, avery, tess, provider, login
):
    letter = _draft(tess, avery, provider, Letter.Kind.COLLABORATION, body="Old words.")
    _release(avery, provider, [], by=tess, decision="revoke")
    response = login(tess).post(_sign_url(letter), {"categories": ["course"], "body": "Words I typed."})
    page = response.content.decode()
    assert response.status_code == 200
    assert "revoked the release of information" in page and "Words I typed." in page
    letter.refresh_from_db()
    assert not letter.is_signed and letter.body == "Old words." and not letter.pdf
