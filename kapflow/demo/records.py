"""The demo's records that came from, or went to, other systems (issue 16, docs/demo.md).
Fictional throughout.

* A PHQ-9 from before the client came: one adult in a course was referred by a psychiatrist who
  had them answer a PHQ-9 three weeks before they first met the practice (their consultation). The referrer's
  system sent it as a LOINC-coded FHIR QuestionnaireResponse (bundled with its Patient); the
  client's primary therapist imported it through the product's own parser and import service
  (kapflow.records.importing), so the chart's measures show "Imported from …". Item 9 is
  answered 0: no alert. It is dated before the practice's own baseline, so the baselines the
  progress page and the outcome report read (the last response on or before the first session)
  are still the practice's own.
* The portal's demo client downloaded a copy of their record on the portal once, some days ago: a
  records.RecordCopy with its letters.Disclosure under the right of access, the rows
  kapflow.records.access.record_copy_give writes. They are written here rather than through it
  because both are saved once and never changed (kapflow.audit.immutable) and the service dates
  them now; no audit row is written for the past download, as no other past event of the demo
  has one.

Added once: nothing happens when the import, or the portal client's copy, exists already."""

import datetime
import hashlib
import json
import types

from django.utils import timezone

from kapflow.clients.models import CareTeamMember, Client
from kapflow.demo.outside import outside_client
from kapflow.demo.portal import CLIENT_EMAIL, portal_client
from kapflow.letters.models import Disclosure
from kapflow.measures.instruments import PHQ9
from kapflow.measures.models import Response
from kapflow.records import access, codes, importing
from kapflow.records.fhir import bundle_json
from kapflow.records.models import ImportedResponse, RecordCopy

# The referring psychiatrist's practice, as their system names itself in the file.
REFERRER = "Dr. Helen Okoro, Westside Psychiatric Associates"
REFERRER_SYSTEM = "https://fhir.westside-psych.example/QuestionnaireResponse"
REFERRER_PATIENTS = "https://fhir.westside-psych.example/Patient"
# How long before the client's first visit with the practice the referrer's PHQ-9 was answered.
REFERRAL_LEAD = datetime.timedelta(days=21)
# The referrer's PHQ-9, item by item (item 9 last, answered 0: no thoughts of self-harm): 17,
# moderately severe, near where the practice's own baseline found the client weeks later.
REFERRAL_ANSWERS = {"1": 2, "2": 3, "3": 3, "4": 2, "5": 2, "6": 2, "7": 2, "8": 1, "9": 0}

# When the portal's demo client downloaded their copy: this many days ago, in the evening.
COPY_DAYS_AGO = 9
COPY_LOCAL_TIME = datetime.time(20, 40)


def add_records_story(staff) -> None:
    """The imported PHQ-9 and the portal client's copy of their record, each added once."""
    _add_imported_phq9()
    _add_portal_copy()


def first_contact(client: Client) -> datetime.datetime | None:
    """When the client first met the practice: their first visit, or their consultation if that
    came first (the demo's consultations have no visit of their own), from the start of its day."""
    visit = client.visits.order_by("starts_at").values_list("starts_at", flat=True).first()
    held_on = client.consultations.order_by("held_on").values_list("held_on", flat=True).first()
    times = [visit] if visit is not None else []
    if held_on is not None:
        times.append(timezone.make_aware(datetime.datetime.combine(held_on, datetime.time())))
    return min(times, default=None)


def _referred_client() -> Client | None:
    """The first adult in a course, neither the portal's demo client nor the outside
    psychiatrist's (their stories are told already), with the practice's own PHQ-9 baseline."""
    others = {c.pk for c in (outside_client(),) if c is not None}
    candidates = (
        Client.objects.filter(
            stage=Client.Stage.COURSE,
            responses__instrument=PHQ9.key,
            responses__context=Response.Context.BASELINE,
        )
        .exclude(pk__in=others)
        .exclude(portal_user__email=CLIENT_EMAIL)
        .distinct()
        .order_by("pk")
    )
    return next((client for client in candidates if not client.is_minor and first_contact(client)), None)


def referral_file(client: Client, *, authored: datetime.datetime) -> bytes:
    """The referrer's PHQ-9 for `client` as their system would export it: a FHIR R4 Bundle of the
    QuestionnaireResponse, coded with LOINC (panel, items, answers and total), and its Patient."""
    labels = {option.value: option for option in PHQ9.options}
    items = [
        {
            "linkId": item.loinc,
            "definition": f"http://loinc.org/{item.loinc}",
            "text": item.text,
            "answer": [
                {
                    "valueCoding": {
                        "system": codes.LOINC,
                        "code": labels[REFERRAL_ANSWERS[item.key]].loinc,
                        "display": labels[REFERRAL_ANSWERS[item.key]].label,
                    }
                }
            ],
        }
        for item in PHQ9.items
    ]
    items.append(
        {
            "linkId": PHQ9.loinc_total,
            "text": "Patient Health Questionnaire 9 item (PHQ-9) total score",
            "answer": [{"valueInteger": sum(REFERRAL_ANSWERS.values())}],
        }
    )
    name = f"{client.first_name} {client.last_name}"
    patient_id = f"wpa-{client.pk:05d}"
    stamp = f"{authored:%Y%m%d}"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"{REFERRER_PATIENTS}/{patient_id}",
                "resource": {
                    "resourceType": "Patient",
                    "id": patient_id,
                    "identifier": [{"system": REFERRER_PATIENTS, "value": patient_id}],
                    "name": [{"use": "official", "family": client.last_name, "given": [client.first_name]}],
                    "birthDate": client.date_of_birth.isoformat(),
                },
            },
            {
                "fullUrl": f"{REFERRER_SYSTEM}/phq9-{patient_id}-{stamp}",
                "resource": {
                    "resourceType": "QuestionnaireResponse",
                    "id": f"phq9-{patient_id}-{stamp}",
                    "identifier": {"system": REFERRER_SYSTEM, "value": f"phq9-{patient_id}-{stamp}"},
                    "questionnaire": f"http://loinc.org/q/{PHQ9.loinc_panel}",
                    "status": "completed",
                    "subject": {"reference": f"Patient/{patient_id}", "display": name},
                    "authored": timezone.localtime(authored).isoformat(timespec="seconds"),
                    "author": {"display": REFERRER},
                    "source": {"reference": f"Patient/{patient_id}", "display": name},
                    "item": items,
                },
            },
        ],
    }
    return json.dumps(bundle, indent=2).encode()


def _add_imported_phq9() -> None:
    """The referrer's PHQ-9, read by the parser and recorded by the import service as the
    client's primary therapist, as the import page's confirmation does."""
    if ImportedResponse.objects.filter(source_name=REFERRER).exists():
        return
    client = _referred_client()
    if client is None:
        return
    therapist = (
        client.care_team.filter(role=CareTeamMember.Role.PRIMARY_THERAPIST).select_related("user").first()
    )
    if therapist is None:
        return
    authored = timezone.localtime(first_contact(client) - REFERRAL_LEAD).replace(hour=9, minute=15, second=0)
    raw = referral_file(client, authored=authored)
    parsed = importing.response_parse(raw)
    importing.response_import(
        request=types.SimpleNamespace(user=therapist.user),
        client=client,
        parsed=parsed,
        file_sha256=hashlib.sha256(raw).hexdigest(),
    )


def _add_portal_copy() -> None:
    """The portal client's download of their record as a FHIR bundle, some evenings ago: the
    disclosure (right of access, by the portal, not accountable) and the copy it lists."""
    client = portal_client()
    if client is None or RecordCopy.objects.filter(client=client).exists():
        return
    day = timezone.localdate() - datetime.timedelta(days=COPY_DAYS_AGO)
    when = timezone.make_aware(datetime.datetime.combine(day, COPY_LOCAL_TIME))
    first = first_contact(client)
    if first is None or when <= first:
        return
    name = f"{client.first_name} {client.last_name}"
    # The bundle as the record stands now: the copy's size and hash are those of a real file.
    content = bundle_json(client)
    disclosure = Disclosure(
        client=client,
        what=access.WHAT[RecordCopy.Format.FHIR],
        recipient_name=name,
        purpose=access.PURPOSE,
        basis=Disclosure.Basis.RIGHT_OF_ACCESS,
        method=Disclosure.Method.PORTAL,
        accountable=False,
        disclosed_by=client.portal_user,
        disclosed_at=when,
    )
    disclosure.full_clean()
    disclosure.save()
    copy = RecordCopy(
        client=client,
        channel=RecordCopy.Channel.PORTAL,
        format=RecordCopy.Format.FHIR,
        delivered_to=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        disclosure=disclosure,
        produced_by=client.portal_user,
        produced_at=when,
    )
    copy.full_clean()
    copy.save()
