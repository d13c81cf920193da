"""What a readable copy of a client's record shows (kapflow.records.pdf, docs/right-of-access.md):
the signed, finished parts of the record, gathered in one selector in a fixed number of queries,
however long the record.

Left out, always: psychotherapy process notes (the notes app's private table, excluded from the right of
access by 45 CFR 164.524(a)(1)(i)), the client's own journal (theirs, not the practice's
record), anything unsigned (a draft is not yet part of the record) and the audit log (the
practice's record about its staff, not a record about the client's care)."""

import datetime
from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from kapflow.billing.models import Diagnosis
from kapflow.clients.models import CareTeamMember, Client
from kapflow.consent.models import Signature
from kapflow.course.models import CourseReview, Discharge
from kapflow.documents.models import ChartDocument
from kapflow.dosing.models import (
    Addendum,
    Administration,
    AdverseEvent,
    ChaperoneCheckin,
    DayOfChecklist,
    EmergencyCall,
    Note,
    PhaseMark,
    PhoneAcknowledgement,
    Rating,
    Runbook,
    SafetyPlan,
    VitalsReading,
)
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.letters.models import Disclosure, Letter
from kapflow.measures.models import Response
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.notes.models import NoteAddendum, ProgressNote, SessionIntention
from kapflow.pathway.models import Consultation, CoursePlan, GateOverride, PreparationSession, Topic
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit


@dataclass(frozen=True)
class RecordSummary:
    """The parts of the record a copy shows, each oldest first (a record is read as a story)."""

    practice: Practice
    client: Client
    produced_at: datetime.datetime
    guardians: list
    emergency_contacts: list
    care_team: list[CareTeamMember]
    outside_providers: list
    consents: list[Signature]
    consultations: list[Consultation]
    screenings: list[Screening]
    clearances: list[Clearance]
    overrides: list[GateOverride]
    # Every diagnosis, oldest first: current, no longer current and entered in error.
    diagnoses: list[Diagnosis]
    # Each preparation session with the labels of the topics it covered.
    preparations: list[tuple[PreparationSession, list[str]]]
    plans: list[CoursePlan]
    visits: list[Visit]
    responses: list[Response]
    orders: list[MedicationOrder]
    sessions: list[Runbook]
    integrations: list[IntegrationRecord]
    notes: list[ProgressNote]
    reviews: list[CourseReview]
    discharges: list[Discharge]
    letters: list[Letter]
    documents: list[ChartDocument]
    disclosures: list[Disclosure]

    def contents(self) -> list[tuple[str, str, int]]:
        """(anchor, heading, how many) for each section, in the order the copy prints them: the
        cover's table of contents."""
        return [
            ("about", "About you", 1),
            (
                "people",
                "Guardians and emergency contacts",
                len(self.guardians) + len(self.emergency_contacts),
            ),
            ("team", "Care team and outside providers", len(self.care_team) + len(self.outside_providers)),
            ("consents", "Consents signed", len(self.consents)),
            ("consultations", "Consultation", len(self.consultations)),
            (
                "medical",
                "Screening and medical clearance",
                len(self.screenings) + len(self.clearances) + len(self.overrides),
            ),
            ("diagnoses", "Diagnoses", len(self.diagnoses)),
            ("preparation", "Preparation sessions", len(self.preparations)),
            ("plans", "Course plans", len(self.plans)),
            ("visits", "Visits", len(self.visits)),
            ("measures", "Questionnaire results", len(self.responses)),
            ("orders", "Medication orders", len(self.orders)),
            ("sessions", "Medication sessions", len(self.sessions)),
            ("integration", "Integration records", len(self.integrations)),
            ("notes", "Progress notes", len(self.notes)),
            ("reviews", "Course reviews and discharge summaries", len(self.reviews) + len(self.discharges)),
            ("letters", "Letters and documents", len(self.letters) + len(self.documents)),
            ("disclosures", "Disclosures of your information", len(self.disclosures)),
        ]


def record_summary(client: Client, *, now: datetime.datetime | None = None) -> RecordSummary:
    """Everything the readable copy of `client`'s record shows, read in a fixed number of queries
    (about forty, whatever the number of visits, sessions or notes): signed and finished parts
    only, never process notes, the journal, drafts or the audit log."""
    people = Client.objects.filter(pk=client.pk).prefetch_related(
        "guardians",
        "emergency_contacts",
        Prefetch("care_team", queryset=CareTeamMember.objects.select_related("user").order_by("role", "pk")),
        "outside_providers",
    )
    client = people.get()
    sessions = (
        Runbook.objects.filter(visit__client=client, signed_at__isnull=False)
        .select_related("visit", "signed_by", "override_review__reviewed_by")
        .prefetch_related(
            Prefetch(
                "administrations",
                queryset=Administration.objects.select_related("given_by", "order").order_by(
                    "given_at", "pk"
                ),
            ),
            Prefetch("vitals", queryset=VitalsReading.objects.order_by("taken_at", "pk")),
            Prefetch(
                "adverse_events",
                queryset=AdverseEvent.objects.select_related("review__reviewed_by").order_by(
                    "noted_at", "pk"
                ),
            ),
            Prefetch("ratings", queryset=Rating.objects.order_by("rated_at", "pk")),
            Prefetch(
                "checklists",
                queryset=DayOfChecklist.objects.select_related("medications_reviewed_by").order_by(
                    "recorded_at", "pk"
                ),
            ),
            Prefetch("safety_plans", queryset=SafetyPlan.objects.order_by("recorded_at", "pk")),
            Prefetch("chaperone_checkins", queryset=ChaperoneCheckin.objects.order_by("checked_at", "pk")),
            Prefetch("phase_marks", queryset=PhaseMark.objects.order_by("started_at", "pk")),
            Prefetch(
                "phone_acknowledgements", queryset=PhoneAcknowledgement.objects.order_by("called_at", "pk")
            ),
            Prefetch("visit__intentions", queryset=SessionIntention.objects.order_by("entered_at", "pk")),
            Prefetch(
                "emergency_calls",
                queryset=EmergencyCall.objects.select_related("called_by").order_by("called_at", "pk"),
            ),
            Prefetch("notes", queryset=Note.objects.select_related("author").order_by("written_at", "pk")),
            Prefetch(
                "addenda", queryset=Addendum.objects.select_related("author").order_by("created_at", "pk")
            ),
        )
        .order_by("visit__starts_at", "pk")
    )
    notes = (
        ProgressNote.objects.filter(client=client, signed_at__isnull=False)
        .select_related("visit", "signed_by")
        .prefetch_related(
            Prefetch(
                "addenda", queryset=NoteAddendum.objects.select_related("author").order_by("created_at", "pk")
            )
        )
        .order_by("visit__starts_at", "pk")
    )
    return RecordSummary(
        practice=Practice.load(),
        client=client,
        produced_at=now or timezone.now(),
        guardians=list(client.guardians.all()),
        emergency_contacts=list(client.emergency_contacts.all()),
        care_team=list(client.care_team.all()),
        outside_providers=list(client.outside_providers.all()),
        consents=list(
            Signature.objects.filter(client=client).select_related("document").order_by("signed_at", "pk")
        ),
        consultations=list(
            Consultation.objects.filter(client=client).select_related("clinician").order_by("held_on", "pk")
        ),
        screenings=list(
            Screening.objects.filter(client=client)
            .select_related("entered_by")
            .order_by("completed_at", "pk")
        ),
        clearances=list(
            Clearance.objects.filter(client=client)
            .select_related("prescriber", "screening", "revoked_by")
            .order_by("decided_at", "pk")
        ),
        overrides=list(
            GateOverride.objects.filter(client=client)
            .select_related("prescriber", "withdrawn_by")
            .order_by("created_at", "pk")
        ),
        diagnoses=list(
            Diagnosis.objects.filter(client=client)
            .select_related("diagnosed_by", "ended_by")
            .order_by("diagnosed_on", "pk")
        ),
        preparations=[
            (preparation, [Topic(value).label for value in preparation.topics])
            for preparation in PreparationSession.objects.filter(client=client)
            .select_related("clinician")
            .order_by("held_on", "pk")
        ],
        plans=list(CoursePlan.objects.filter(client=client).order_by("created_at", "pk")),
        visits=list(
            Visit.objects.filter(client=client).select_related("clinician").order_by("starts_at", "pk")
        ),
        responses=list(Response.objects.filter(client=client).order_by("completed_at", "pk")),
        orders=list(
            MedicationOrder.objects.filter(client=client)
            .select_related("prescriber")
            .order_by("created_at", "pk")
        ),
        sessions=list(sessions),
        integrations=list(
            IntegrationRecord.objects.filter(client=client)
            .select_related("clinician")
            .prefetch_related(
                Prefetch("action_items", queryset=ActionItem.objects.order_by("created_at", "pk"))
            )
            .order_by("recorded_at", "pk")
        ),
        notes=list(notes),
        # A review is signed when both its signatures are in and it is decided.
        reviews=list(
            CourseReview.objects.filter(client=client, decided_at__isnull=False)
            .select_related("therapist_signed_by", "prescriber_signed_by")
            .order_by("held_on", "pk")
        ),
        discharges=list(
            Discharge.objects.filter(client=client, signed_at__isnull=False)
            .select_related("signed_by")
            .order_by("discharged_on", "pk")
        ),
        letters=list(
            Letter.objects.filter(client=client, signed_at__isnull=False)
            .select_related("provider")
            .order_by("signed_at", "pk")
        ),
        documents=list(ChartDocument.objects.filter(client=client).order_by("uploaded_at", "pk")),
        disclosures=list(
            Disclosure.objects.filter(client=client)
            .select_related("disclosed_by")
            .order_by("disclosed_at", "pk")
        ),
    )
