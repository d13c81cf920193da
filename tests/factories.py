"""Small builders for test data. Each returns a saved object with sensible defaults that a test
overrides only where it matters."""

import datetime
import itertools
import time

from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.clients.models import CareTeamMember, Client, EmergencyContact, Guardian
from kapflow.clients.services import digits

_seq = itertools.count(1)


def make_user(
    name: str = "Staff Member",
    *,
    roles=("is_therapist",),
    email: str | None = None,
    mfa: bool = True,
    password: str | None = None,
) -> User:
    n = next(_seq)
    user = User.objects.create_user(
        email or f"user{n}@example.org", password, full_name=name, **dict.fromkeys(roles, True)
    )
    if mfa:
        enrol_totp(user)
    return user


# The personas of tests/conftest.py (healthchecks' test base): name, role and email, and whether
# they sign in with an authenticator app. The access matrix builds the same people.
PERSONAS = {
    "ada": ("Ada Admin", "is_practice_admin", True),
    "tess": ("Tess Therapist", "is_therapist", True),
    "colin": ("Colin Colleague", "is_therapist", True),
    "priya": ("Priya Prescriber", "is_prescriber", True),
    "cora": ("Cora Coordinator", "is_coordinator", True),
    "cleo": ("Cleo Client", "is_client", False),
    "gail": ("Gail Guardian", "is_guardian", False),
}


def make_persona(key: str) -> User:
    name, role, mfa = PERSONAS[key]
    return make_user(name, roles=(role,), email=f"{key}@example.org", mfa=mfa)


def make_avery(tess: User, priya: User) -> Client:
    """Tess's client, with Priya as prescriber."""
    client = make_client(first_name="Avery", last_name="Alvarez", therapist=tess, prescriber=priya)
    add_emergency_contact(client)
    return client


def make_olive(colin: User) -> Client:
    """Colin's client, outside Tess's care."""
    return make_client(first_name="Olive", last_name="Okafor", therapist=colin)


def enrol_totp(user: User, secret: str | None = None) -> str:
    secret = secret or generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


# The last part of a 30-second window in which a code for "now" is not given out: the server
# checks it a moment later (tens of milliseconds on a busy machine) against the window it is in
# then. kapflow takes the windows either side too (MFA_TOTP_TOLERANCE 1), but a test of the
# current window alone (tolerance 0) would fail by chance on such a code.
_WINDOW_END = 1.0


def totp_code(secret: str, at: datetime.datetime | None = None) -> str:
    """The authenticator's code at `at`, or one about to be typed now: never one from the last
    second of its window, which could be refused by the time it arrives (the test waits for the
    next window instead)."""
    if at is None:
        left = 30 - time.time() % 30
        if left < _WINDOW_END:
            time.sleep(left + 0.01)
    moment = (at or timezone.now()).timestamp()
    return format_hotp_value(hotp_value(secret, int(moment) // 30))


def make_client(
    *,
    first_name: str = "Avery",
    last_name: str | None = None,
    age: int = 35,
    therapist: User | None = None,
    prescriber: User | None = None,
    phone: str = "(818) 555-0101",
    **fields,
) -> Client:
    n = next(_seq)
    today = timezone.localdate()
    born = fields.pop("date_of_birth", None) or today.replace(year=today.year - age) - datetime.timedelta(
        days=10
    )
    client = Client.objects.create(
        first_name=first_name,
        last_name=last_name or f"Client{n}",
        date_of_birth=born,
        phone=phone,
        phone_digits=digits(phone),
        **fields,
    )
    if therapist is not None:
        CareTeamMember.objects.create(
            client=client, user=therapist, role=CareTeamMember.Role.PRIMARY_THERAPIST
        )
    if prescriber is not None:
        CareTeamMember.objects.create(client=client, user=prescriber, role=CareTeamMember.Role.PRESCRIBER)
    return client


def add_emergency_contact(client: Client) -> EmergencyContact:
    return EmergencyContact.objects.create(
        client=client, name="Sam Reyes", relationship="partner", phone="(818) 555-0199"
    )


def add_guardian(client: Client, *, can_consent: bool = True) -> Guardian:
    return Guardian.objects.create(
        client=client,
        name="Pat Guardian",
        relationship="mother",
        phone="(818) 555-0142",
        has_legal_authority=can_consent,
    )


def acknowledge_integration(visit, who) -> None:
    """The soft "integration booked" gate, acknowledged in writing unless an integration is
    booked in the window: the first dose needs one or the other. The gate has its own tests
    (test_runbook_followup.py)."""
    from kapflow.dosing import selectors
    from kapflow.dosing.models import Runbook
    from kapflow.dosing.services.discharge import integration_acknowledge
    from kapflow.practice.models import Practice

    practice = Practice.load()
    runbook = Runbook.objects.filter(visit=visit).first()
    if not selectors.integration_gate(visit, runbook, practice=practice).passed:
        integration_acknowledge(
            actor=who,
            visit=visit,
            reason="Books the integration by phone after the session.",
            practice=practice,
        )


class ServiceRequest:
    """What a service needs of a request, for a test that calls one directly: the person acting."""

    def __init__(self, user: User):
        self.user = user


def sign_note(visit, author: User, **sections):
    """Write and sign the progress note of a clinical visit, which is how such a visit is
    completed (kapflow.notes.services.note_sign; its own tests are tests/test_notes.py). Each
    format's first section and the plan are filled unless `sections` says otherwise."""
    from kapflow.notes import services

    request = ServiceRequest(author)
    note = services.note_open(request=request, visit=visit)
    text = sections or {
        "subjective": "Reports better sleep.",
        "data": "Reports better sleep.",
        "behaviour": "Calm, engaged.",
        "plan": "Continue weekly.",
    }
    note = services.note_save_draft(request=request, note=note, sections=text)
    return services.note_sign(request=request, note=note)


def standing_order(client: Client, prescriber: User):
    """The client's first medication order, or a new one: sublingual ketamine, 100–300 mg, six
    sessions, in force from two months ago to two months ahead. For tests that need a dose to
    hang on an order, not the order's own rules (tests/test_runbook.py has those)."""
    from decimal import Decimal

    from kapflow.medical.models import MedicationOrder

    today = timezone.localdate()
    return MedicationOrder.objects.filter(client=client).first() or MedicationOrder.objects.create(
        client=client,
        prescriber=prescriber,
        drug=MedicationOrder.Drug.KETAMINE,
        route=MedicationOrder.Route.SUBLINGUAL,
        dose_min=Decimal("100"),
        dose_max=Decimal("300"),
        sessions_authorised=6,
        starts_on=today - datetime.timedelta(days=60),
        ends_on=today + datetime.timedelta(days=60),
    )
