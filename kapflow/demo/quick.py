"""The quick demo practice (`manage.py load_demo`, what `make run` loads): a fictional practice to
try kapflow with: staff in every role, clients at every stage of the pathway, and a few
inquiries waiting. Nothing here is a real person. The group size is kapflow.demo.group."""

import datetime
import random

from django.db import transaction
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.clients.models import CareTeamMember, Client, EmergencyContact, Guardian, OutsideProvider
from kapflow.clients.services import digits
from kapflow.consent.categories import Category
from kapflow.consent.models import Kind, Signature
from kapflow.consent.selectors import current_documents
from kapflow.demo.alumni import AGES as ALUMNI_AGES
from kapflow.demo.alumni import add_alumni_story
from kapflow.demo.billing import add_billing
from kapflow.demo.controlled import REGISTRATION_NUMBER as CONTROLLED_REGISTRATION
from kapflow.demo.controlled import add_controlled_story
from kapflow.demo.course import add_course_story
from kapflow.demo.dating import date_the_charts
from kapflow.demo.journal import add_journal_story
from kapflow.demo.measures import add_measures_story
from kapflow.demo.notes import add_notes_story
from kapflow.demo.outcomes import add_outcomes_story
from kapflow.demo.outside import add_letters_story, release_signature
from kapflow.demo.pathway import (
    add_consent_story,
    add_medical_story,
    add_pathway_story,
    add_visit_story,
)
from kapflow.demo.portal import add_portal_story, open_portal_accounts
from kapflow.demo.records import add_records_story
from kapflow.demo.runbook import add_runbook_story
from kapflow.demo.schedule import Schedule
from kapflow.inquiries.models import Inquiry
from kapflow.measures.schedule import schedule_measures
from kapflow.practice.models import Practice

DEMO_PASSWORD = "kapflow-demo-2026"
DOMAIN = "demo.kapflow.test"

STAFF = [
    # email, name, credentials, roles
    ("owner", "Dana Whitfield", "LCSW", ["is_practice_admin", "is_therapist"]),
    ("therapist", "Marcus Bell", "PsyD", ["is_therapist"]),
    ("prescriber", "Priya Raman", "MD", ["is_prescriber"]),
    ("coordinator", "Jamie Ortiz", "", ["is_coordinator"]),
    ("admin", "Lee Park", "", ["is_practice_admin"]),
]

FIRST = [
    "Avery",
    "Jordan",
    "Maya",
    "Elena",
    "Noah",
    "Grace",
    "Samuel",
    "Priya",
    "Hannah",
    "Luis",
    "Chloe",
    "Omar",
    "Ruth",
    "Theo",
    "Imani",
    "Daniel",
    "Nora",
    "Kenji",
    "Sofia",
    "Caleb",
    "Leah",
    "Mateo",
    "Zoe",
    "Isaac",
    "Amara",
    "Felix",
    "Ivy",
    "Rafael",
    "June",
    "Tariq",
]
LAST = [
    "Alvarez",
    "Brennan",
    "Chen",
    "Dawson",
    "Eriksen",
    "Fischer",
    "Gallagher",
    "Hughes",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreno",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Sato",
    "Thornton",
    "Underwood",
    "Vasquez",
    "Whitaker",
    "Xu",
    "Yilmaz",
    "Zimmer",
    "Abara",
    "Bishop",
    "Castellano",
    "Duarte",
]
CITIES = [
    ("Sherman Oaks", "CA", "91403"),
    ("Studio City", "CA", "91604"),
    ("Encino", "CA", "91436"),
    ("Van Nuys", "CA", "91401"),
    ("Burbank", "CA", "91502"),
]
PRONOUNS = ["she/her", "he/him", "they/them", "", ""]
NICKNAMES = {
    "Samuel": "Sam",
    "Daniel": "Dan",
    "Theo": "Teddy",
    "Rafael": "Rafa",
    "Elena": "Lena",
    "Isaac": "Ike",
    "Sofia": "Sofi",
    "Kenji": "Ken",
}

# Twenty clients: (stage, age, therapist index) — spread along the pathway, two of them minors.
PATHWAY = [
    ("consultation", 34, 0),
    ("consultation", 41, 1),
    ("consultation", 16, 0),
    ("screening", 29, 0),
    ("screening", 52, 1),
    ("screening", 38, 0),
    ("consent", 45, 1),
    ("consent", 17, 0),
    ("preparation", 31, 0),
    ("preparation", 27, 1),
    ("preparation", 60, 0),
    ("course", 36, 0),
    ("course", 44, 1),
    ("course", 33, 0),
    ("course", 49, 1),
    ("maintenance", 58, 0),
    ("maintenance", 39, 1),
    ("discharged", 47, 0),
    ("not_proceeding", 23, 1),
    ("course", 68, 0),
]

INQUIRIES = [
    (
        "Rowan",
        "Hale",
        "new",
        "I've been in therapy for years for depression and my therapist mentioned KAP. "
        "I'd like to understand whether it could be right for me.",
    ),
    (
        "Celeste",
        "Marin",
        "new",
        "Postpartum, feeling stuck and disconnected. A friend did KAP with you. "
        "Could we talk about what it involves?",
    ),
    (
        "Victor",
        "Osei",
        "contacted",
        "Interested in ketamine therapy for long-standing anxiety. Evenings are best to reach me.",
    ),
    ("Paige", "Lindgren", "declined", "Looking for couples counselling."),
]


def _user(key, name, credentials, roles) -> User:
    email = f"{key}@{DOMAIN}"
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email, DEMO_PASSWORD, full_name=name, credentials=credentials, **dict.fromkeys(roles, True)
        )
    return user


def _birthday(rng: random.Random, age: int, today: datetime.date) -> datetime.date:
    return today - datetime.timedelta(days=age * 365 + rng.randint(30, 330))


def _client(rng, index, stage, age, today, created_by) -> Client:
    # Every pairing of first and last names once before any repeats.
    first, last = FIRST[index % len(FIRST)], LAST[(index * 7 + index // len(FIRST)) % len(LAST)]
    city, region, postal = CITIES[index % len(CITIES)]
    phone = f"(818) 555-{1000 + index % 9000:04d}"
    client = Client(
        first_name=first,
        last_name=last,
        preferred_name=NICKNAMES.get(first, "") if rng.random() < 0.5 else "",
        pronouns=rng.choice(PRONOUNS),
        date_of_birth=_birthday(rng, age, today),
        email=f"{first.lower()}.{last.lower()}{index}@example.com",
        phone=phone,
        phone_digits=digits(phone),
        preferred_contact=rng.choice(["phone", "text", "email"]),
        address_line=f"{100 + index * 13} Ventura Blvd",
        city=city,
        region=region,
        postal_code=postal,
        stage=stage,
        created_by=created_by,
        created_at=timezone.now() - datetime.timedelta(days=rng.randint(1, 200)),
    )
    client.search_name = client.folded_names()  # bulk_create: as kapflow.clients.services would
    return client


def _add_people(rng, clients, therapists, prescriber, coordinator):
    """Care teams, emergency contacts, guardians and providers for freshly created clients."""
    members, contacts, guardians, providers = [], [], [], []
    for n, client in enumerate(clients):
        therapist = therapists[n % len(therapists)]
        members.append(
            CareTeamMember(
                client=client,
                user=therapist,
                role=CareTeamMember.Role.PRIMARY_THERAPIST,
                added_by=coordinator,  # the front desk assigns care (the chart's "added by")
            )
        )
        if client.stage not in ("consultation", "not_proceeding"):
            members.append(
                CareTeamMember(
                    client=client, user=prescriber, role=CareTeamMember.Role.PRESCRIBER, added_by=coordinator
                )
            )
        if n % 6 != 5:  # a few still missing an emergency contact, as in real life
            contacts.append(
                EmergencyContact(
                    client=client,
                    name=f"{rng.choice(FIRST)} {client.last_name}",
                    relationship=rng.choice(["partner", "sister", "brother", "friend", "parent"]),
                    phone=f"(818) 555-{rng.randint(2000, 8999)}",
                )
            )
        if client.is_minor:
            guardians.append(
                Guardian(
                    client=client,
                    name=f"{rng.choice(FIRST)} {client.last_name}",
                    relationship="mother",
                    phone=f"(818) 555-{rng.randint(2000, 8999)}",
                    email=f"guardian.{client.last_name.lower()}@example.com",
                )
            )
        if n % 3 == 0:
            # A minor's release is signed by a guardian; the demo leaves theirs requested.
            signed = n % 2 == 0 and not client.is_minor
            providers.append(
                OutsideProvider(
                    client=client,
                    name=f"Dr. {rng.choice(LAST)}",
                    kind=rng.choice(["therapist", "psychiatrist", "primary_care"]),
                    organisation="Valley Health Partners",
                    phone="(818) 555-0199",
                    release="signed" if signed else "requested",
                    release_expires_on=timezone.localdate() + datetime.timedelta(days=300)
                    if signed
                    else None,
                )
            )
    CareTeamMember.objects.bulk_create(members)
    EmergencyContact.objects.bulk_create(contacts)
    Guardian.objects.bulk_create(guardians)
    OutsideProvider.objects.bulk_create(providers)
    _sign_releases([p for p in providers if p.release == OutsideProvider.Release.SIGNED], coordinator)


# What the demo's signed releases let the practice send: the whole of a course, as a client who
# wants their own clinicians kept informed would sign.
RELEASE_CATEGORIES = [category.value for category in Category]


def _sign_releases(providers, presented_by) -> None:
    """The client's signature behind each provider's "signed" release (the letters read the
    signature, not the provider's status), as the office's signing page records it."""
    document = current_documents().get(Kind.RELEASE)
    if document is None:
        for provider in providers:
            provider.release, provider.release_expires_on = OutsideProvider.Release.REQUESTED, None
        OutsideProvider.objects.bulk_update(providers, ["release", "release_expires_on"])
        return
    signed_at = timezone.now() - datetime.timedelta(days=20)
    Signature.objects.bulk_create(
        release_signature(
            document, provider, RELEASE_CATEGORIES, presented_by=presented_by, signed_at=signed_at
        )
        for provider in providers
    )
    for provider in providers:
        provider.release_categories = RELEASE_CATEGORIES
    OutsideProvider.objects.bulk_update(providers, ["release_categories"])


@transaction.atomic
def load_demo(*, extra_clients: int = 0, seed: int = 2026) -> dict:
    """Create the demo practice once; later calls add nothing but `extra_clients`. Returns the
    staff, the number of clients, whether this call created it, and `as_of`: the moment the
    measure schedule's sweep ran as it ended (None when it was there already), the moment its
    forms are as the schedule makes them."""
    rng = random.Random(seed)  # noqa: S311  (made-up demo data, not secrets)
    today = timezone.localdate()
    practice = Practice.load()
    first_time = not User.objects.filter(email=f"owner@{DOMAIN}").exists()
    staff = {key: _user(key, name, cred, roles) for key, name, cred, roles in STAFF}
    therapists = [staff["owner"], staff["therapist"]]
    if first_time:
        practice.name = "Oak Hill Ketamine-Assisted Therapy"
        practice.outward_name = "Oak Hill Therapy"
        practice.phone = "(818) 555-0100"
        practice.email = f"hello@{DOMAIN}"
        practice.address = "14500 Ventura Blvd, Suite 210, Sherman Oaks, CA 91403"
        # Told of an in-session alert for a client whose care team has no prescriber of the
        # practice (the client cleared by an outside psychiatrist's letter, kapflow.demo.outside).
        practice.on_call_prescriber = staff["prescriber"]
        # The practice's DEA registration for its stock of ketamine and esketamine, in the
        # prescriber's name: she explains the inventories' discrepancies (kapflow.demo.controlled).
        practice.dea_registrant = staff["prescriber"]
        practice.dea_registration_number = CONTROLLED_REGISTRATION
        practice.dea_registration_expires_on = today + datetime.timedelta(days=540)
        practice.save()
        clients = Client.objects.bulk_create(
            [
                _client(rng, n, stage, age, today, staff["coordinator"])
                for n, (stage, age, _t) in enumerate(PATHWAY)
            ]
        )
        _add_people(
            rng, clients, [therapists[t] for _s, _a, t in PATHWAY], staff["prescriber"], staff["coordinator"]
        )
        for n, (first, last, status, message) in enumerate(INQUIRIES):
            Inquiry.objects.create(
                first_name=first,
                last_name=last,
                email=f"{first.lower()}@example.com",
                phone=f"(818) 555-{3000 + n:04d}",
                message=message,
                status=status,
                received_at=timezone.now() - datetime.timedelta(hours=5 + n * 20),
                declined_reason="Looking for couples counselling; referred to a couples therapist."
                if status == "declined"
                else "",
                handled_by=staff["coordinator"] if status != "new" else None,
            )
    if extra_clients:
        start = Client.objects.count()
        stages = [stage for stage, _a, _t in PATHWAY]
        batch = [
            _client(rng, start + n, rng.choice(stages), rng.randint(18, 75), today, staff["coordinator"])
            for n in range(extra_clients)
        ]
        created = Client.objects.bulk_create(batch, batch_size=500)
        _add_people(rng, created, therapists, staff["prescriber"], staff["coordinator"])
    add_pathway_story(rng, staff)
    add_medical_story(staff)
    add_consent_story(staff)
    # One diary for every story that books a visit: nobody and no room is booked twice.
    schedule = Schedule()
    add_visit_story(staff, schedule)
    add_portal_story(staff)
    add_outcomes_story(staff, schedule)
    add_journal_story(staff)
    add_runbook_story(staff, schedule)
    add_letters_story(staff)
    add_measures_story(staff, schedule)
    if first_time:
        alumni = Client.objects.bulk_create(
            [
                _client(rng, len(PATHWAY) + n, Client.Stage.DISCHARGED, age, today, staff["coordinator"])
                for n, age in enumerate(ALUMNI_AGES)
            ]
        )
        _add_people(
            rng,
            alumni,
            [therapists[n % 2] for n in range(len(alumni))],
            staff["prescriber"],
            staff["coordinator"],
        )
        add_alumni_story(alumni, staff, rng, schedule)
    # The stock ledger, from an initial inventory after the last injected or intranasal dose the
    # stories above recorded, with sessions of its own: before the reviews and notes below count
    # and write up every session.
    add_controlled_story(staff, schedule)
    # Last, over every story's visits: the course reviews, maintenance plans and discharges, then
    # a signed note for every clinical visit completed (and the few notes still owed).
    add_course_story(staff, schedule)
    add_notes_story(staff)
    # Records from and to other systems: a referrer's PHQ-9 imported, a copy the client downloaded.
    add_records_story(staff)
    # The money of every visit completed above: fees, invoices, payments, diagnoses.
    add_billing(
        clinicians=[staff["owner"], staff["therapist"], staff["prescriber"]],
        coordinator=staff["coordinator"],
        admin=staff["admin"],
        rng=rng,
        today=today,
    )
    # Last: the charts dated as a practice would have made them, before what they hold; and
    # every client who used the portal in any story above has the account they used, opened by
    # an invitation before they first did.
    date_the_charts(rng)
    open_portal_accounts(staff)
    as_of = None
    if first_time:
        # And the forms the measure schedule's sweep asks once every story has booked its
        # visits, as the worker would on its first run: those for the visits booked by the
        # stories after the measures' (kapflow.measures.schedule).
        as_of = timezone.now()
        schedule_measures(as_of)
    return {"first_time": first_time, "staff": staff, "clients": Client.objects.count(), "as_of": as_of}
