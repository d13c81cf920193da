"""The group practice: the demo at the size of a group of clinicians, two years old, built to
measure kapflow at that size (`manage.py load_demo --size group`, and bench/).

It keeps the rules the product keeps, because it books and records as the practice would:

* Everything is on the practice's calendar: working days Monday to Saturday in the practice's
  time zone (Saturday mornings only), each clinician working five of them, between 8:00 and
  18:00, never more than eight hours of visits in a day. Nobody is booked twice at once: not a
  clinician, not a client (one visit a day at most), not a room. In-person visits are in a
  room, virtual ones have a video link. Visits that start after now are scheduled; those that
  ended are completed, cancelled (with a reason, and booked again) or, for a therapy session,
  a no-show. No visit is under way at the moment it is loaded.
* A new client goes to the first therapist, in turn, with room in the weeks their course would
  run; when none has, the client is told the wait at the discovery call and goes no further,
  the therapist moving them to Not proceeding with the reason (as a prescriber does a client
  not cleared). A client who prepared but whose first session still cannot be booked
  withdraws, with a discharge, three weeks later.
* Each client walks the pathway in order: a discovery call, the consultation (with the
  baseline questionnaires), the medical evaluation (screening and the prescriber's clearance,
  the order), the consents signed at the first preparation session (the telehealth consent too
  when the course plan has virtual sessions), two preparation sessions covering every topic,
  then the medication sessions, each with its integration session within the integration
  window, and a progress review at the end; then discharge, or maintenance: fortnightly therapy
  and a medication session every few weeks under a maintenance order, the screening repeated
  when it would run out (and the prescriber's clearance on it the next day), until a progress
  review ends it with a discharge. A medication session
  happens only while the screening is valid, the clearance current and the order in force with
  sessions left: a course that would run past them is cut short.
* Each completed medication session has its signed runbook, minute by minute inside the
  visit: the day-of checklist, pre-dose vitals within the window before the dose, the dose
  within the order's range (esketamine only in a room certified under the Spravato REMS, with
  the prescriber on site; sublingual ketamine in the office or at home with a safety plan and
  chaperone check-ins), vitals through the monitoring, ratings, phases, notes, discharge once
  the criteria are met, and the signature. Alerts are computed by the product's own rules.
* Questionnaires: PHQ-9 and GAD-7 at baseline, weekly while in care, before each session and
  at discharge, improving over a course as real courses do (most improve, some not at all); the
  PCL-5 too at baseline and discharge. Those before a session answer the forms the measure
  schedule asked, and the load ends with the schedule's own sweep (kapflow.measures.schedule).

Because days are counted from the practice's today, a group practice loaded today has
medication sessions booked for the next working day and the week after, every gate passed.

`Scale` sets the size; the tests build a small one through the same code. Fictional throughout.
"""

import datetime
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.clients.models import CareTeamMember, Client, ContactMethod, EmergencyContact, StageChange
from kapflow.clients.services import digits
from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.consent.selectors import name_on_file
from kapflow.controlled import clocks
from kapflow.controlled.models import Entry, Inventory, InventoryCount, Lot, RemsEnrolment
from kapflow.course.facts import discharge_facts, review_facts
from kapflow.course.models import CourseReview, Discharge
from kapflow.demo import controlled as quick_controlled
from kapflow.demo import course as demo_course
from kapflow.demo import notes as demo_notes
from kapflow.demo import portal as demo_portal
from kapflow.demo import quick
from kapflow.demo.billing import add_billing
from kapflow.demo.pathway import new_response
from kapflow.demo.schedule import CLOSE, DAY_LIMIT, GRID, OPEN, SATURDAY_CLOSE
from kapflow.dosing import rules
from kapflow.dosing.models import (
    Administration,
    AdverseEvent,
    ChaperoneCheckin,
    DayOfChecklist,
    Note,
    PhaseMark,
    PrescriberOnSite,
    Rating,
    RemsReport,
    Runbook,
    SafetyPlan,
    SafetyReview,
    VitalsReading,
)
from kapflow.inquiries.models import Inquiry
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.measures.instruments import GAD7, PCL5, PHQ9
from kapflow.measures.models import MeasureTask, Response
from kapflow.measures.schedule import schedule_measures, visit_due
from kapflow.medical import screening as findings
from kapflow.medical.doses import INTRANASAL, SUBLINGUAL
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.notes.models import ProgressNote, SessionIntention
from kapflow.outcomes.report import ended_quarters
from kapflow.pathway.course import Position
from kapflow.pathway.models import Consultation, CoursePlan, PreparationSession, Topic
from kapflow.portal.models import PortalInvitation
from kapflow.practice.models import Practice
from kapflow.reminders.models import Reminder
from kapflow.reminders.sources import appointment_key, dayof_key
from kapflow.visits.models import NOTED_KINDS, Room, Visit

DOMAIN = "group.kapflow.test"
PASSWORD = "kapflow-demo-2026"


@dataclass(frozen=True)
class Scale:
    """How big the group practice is. The defaults are the group size."""

    clients: int = 5600
    therapists: int = 20
    prescribers: int = 4
    coordinators: int = 3
    admins: int = 2
    rooms: int = 12
    rems_rooms: int = 3
    days: int = 730  # how far back the practice's history goes (at least)
    ahead_days: int = 28  # how far ahead visits are booked
    vitals_every_minutes: int = 3  # the office monitor's cycle during a session
    seed: int = 2412

    @property
    def clinicians(self) -> int:
        return self.therapists + self.prescribers


GROUP = Scale()
# For tests: the same code paths, four clinicians, two years.
SMALL = Scale(clients=150, therapists=3, prescribers=1, coordinators=1, admins=1, rooms=3, rems_rooms=1)

MINUTES = {
    Visit.Kind.DISCOVERY_CALL: 25,
    Visit.Kind.CONSULTATION: 60,
    Visit.Kind.MEDICAL_EVALUATION: 60,
    Visit.Kind.PREPARATION: 60,
    Visit.Kind.MEDICATION: 150,
    Visit.Kind.INTEGRATION: 60,
    Visit.Kind.THERAPY: 50,
    Visit.Kind.PROGRESS_REVIEW: 50,
}
# Minutes from a medication session's start.
DOSE_AT = 25
PREDOSE_AT = (10, 22)
PORTAL_LEAD = datetime.timedelta(hours=18)  # when before a visit the client answered
# The worker's sweep runs every few minutes (kapflow.measures.schedule): the baseline forms are
# asked this long after the consultation that put the client on the way to a course.
SWEPT_AFTER = datetime.timedelta(minutes=5)
# The review that ends a course or maintenance is written this long before its visit ends; the
# discharge after it is signed once it is decided (kapflow.demo.course.discharge_signed_at), and
# that signature asks the discharge forms.
REVIEW_WRITTEN_BEFORE_END = datetime.timedelta(minutes=10)
# How long after a form came due the client answered it on the portal, in hours.
ANSWERED_WITHIN = (2, 40)

THERAPIST_NAMES = [
    ("Dana Whitfield", "LCSW"),
    ("Marcus Bell", "PsyD"),
    ("Helena Voss", "LMFT"),
    ("Tomas Reyes", "PhD"),
    ("Aisha Karim", "LCSW"),
    ("Benjamin Cole", "PsyD"),
    ("Yuki Tanaka", "LMFT"),
    ("Grace Mbeki", "LPCC"),
    ("Oliver Grant", "PhD"),
    ("Sofia Marchetti", "LCSW"),
    ("Daniel Osei", "LMFT"),
    ("Ruth Adler", "PsyD"),
    ("Kai Nakoa", "LPCC"),
    ("Miriam Stone", "LCSW"),
    ("Jonah Pierce", "LMFT"),
    ("Leila Haddad", "PhD"),
    ("Carmen Ortega", "LCSW"),
    ("Ethan Brooks", "PsyD"),
    ("Nadia Petrov", "LMFT"),
    ("Hugo Lindqvist", "PhD"),
]
PRESCRIBER_NAMES = [
    ("Priya Raman", "MD"),
    ("Samuel Okafor", "MD"),
    ("Irene Castell", "NP"),
    ("Victor Lund", "DO"),
    ("Naomi Fischer", "MD"),
    ("Rafael Duarte", "NP"),
]
COORDINATOR_NAMES = ["Jamie Ortiz", "Alex Moreau", "Sam Whitaker"]
ADMIN_NAMES = ["Lee Park", "Robin Ellis"]
# The quick demo's names, and more: a practice of thousands needs more pairings.
FIRST = [*quick.FIRST, "Wren", "Hugo", "Nadia", "Ezra", "Lena", "Milo", "Talia", "Owen", "Rosa", "Jasper"]
LAST = [
    *quick.LAST,
    *("Ekwueme", "Fontaine", "Gupta", "Halvorsen", "Ibarra", "Jovanovic", "Kaur", "Laine", "Mendes"),
    *("Novak", "Oduya", "Petrov", "Ramos", "Sandoval", "Tran", "Ueda", "Varga", "Weiss", "Yamada", "Zhou"),
]
CITIES = [*quick.CITIES, ("Glendale", "CA", "91203"), ("Pasadena", "CA", "91101")]
ROOM_NAMES = [
    "Garden Room",
    "Studio",
    "Cedar Room",
    "Willow Room",
    "Harbor Room",
    "Juniper Room",
    "Lantern Room",
    "Meadow Room",
    "Orchard Room",
    "Quiet Room",
    "River Room",
    "Sage Room",
    "Tide Room",
    "Vista Room",
]
CANCEL_REASONS = [
    "Client unwell; rebooked.",
    "Client's childcare fell through; rebooked.",
    "Clinician unwell; rebooked with the client.",
    "Client asked to move it: work travel.",
    "No ride home arranged for the day; rebooked.",
]
SESSION_NOTES = [
    "Opening reflection: revisited the intention for the course.",
    "Eyes shaded, music on; settled quickly, breathing slow and even.",
    "Sitting up, oriented, drinking water; processing what came up.",
    "Spoke of an old friendship with warmth; tearful, then quiet.",
]
ACTIONS = [
    "A short walk each morning without the phone, three days this week.",
    "Write down what came up in the session; no need to share it.",
    "Tell someone close one thing that came up, in your own words.",
    "Notice the inner critic once a day and name it, without arguing.",
    "Back to the Tuesday swim; start with twenty minutes.",
]
# Share of the baseline PHQ-9 left at the end of a course: most improve, some barely, a few not.
END_SHARES = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.95, 1.05]


@dataclass
class Diary:
    """The practice's calendar while it is being built: who and which room is busy when, and
    how many minutes of visits each clinician has each day."""

    now: datetime.datetime
    tz: datetime.tzinfo
    today: datetime.date
    busy: dict = field(default_factory=dict)  # (user or room key, day) -> [(start, end)]
    load: dict = field(default_factory=dict)  # (user id, day) -> minutes
    client_days: dict = field(default_factory=dict)  # client index -> {day}
    day_off: dict = field(default_factory=dict)  # user id -> weekday off (0..5)

    def at(self, day: datetime.date, minute: int) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time(minute // 60, minute % 60), self.tz)

    def works(self, user_id: int, day: datetime.date) -> bool:
        weekday = day.weekday()
        return weekday < 6 and self.day_off.get(user_id) != weekday

    @staticmethod
    def _free(intervals, start, end) -> bool:
        return all(end <= s or start >= e for s, e in intervals)

    def slot(
        self,
        *,
        client: int,
        user_id: int,
        day: datetime.date,
        minutes: int,
        rooms: list | None,
        rng: random.Random,
        latest: int | None = None,
        earliest: int = OPEN,
    ):
        """A free start on `day` (minutes from midnight) and room, or None."""
        if day in self.client_days.get(client, ()) or not self.works(user_id, day):
            return None
        if self.load.get((user_id, day), 0) + minutes > DAY_LIMIT:
            return None
        close = SATURDAY_CLOSE if day.weekday() == 5 else CLOSE
        last = close - minutes if latest is None else min(close - minutes, latest)
        starts = list(range(earliest, last + 1, GRID))
        if not starts:
            return None
        # A random first choice, so that visits spread over the day.
        pivot = rng.randrange(len(starts))
        mine = self.busy.get(("u", user_id, day), [])
        for start in starts[pivot:] + starts[:pivot]:
            end = start + minutes
            if not self._free(mine, start, end):
                continue
            if day == self.today and self.at(day, start) < self.now < self.at(day, end):
                continue  # nothing is under way at the moment the demo is loaded
            if rooms is None:
                return start, None
            for room in rooms:
                if self._free(self.busy.get(("r", room.pk, day), []), start, end):
                    return start, room
        return None

    def hold(self, *, client: int, user_id: int, day, start: int, minutes: int, room) -> None:
        end = start + minutes
        self.busy.setdefault(("u", user_id, day), []).append((start, end))
        if room is not None:
            self.busy.setdefault(("r", room.pk, day), []).append((start, end))
        self.load[(user_id, day)] = self.load.get((user_id, day), 0) + minutes
        self.client_days.setdefault(client, set()).add(day)


def pcl_baseline(phq0: int, gad0: int) -> int:
    """A client's PCL-5 at baseline (0-80), drawn from their PHQ-9 and GAD-7 rather than the
    random stream, so that adding it left the rest of the practice as it was."""
    return 18 + (phq0 * 5 + gad0 * 3) % 40


class Builder:
    """Builds the group practice in memory, then writes it in bulk."""

    def __init__(self, scale: Scale):
        self.scale = scale
        self.rng = random.Random(scale.seed)  # noqa: S311  (made-up demo data, not secrets)
        # The notes' and the reviews' wording: a stream of its own, so that adding them left the
        # rest of the practice as it was.
        self.records_rng = random.Random(scale.seed + 15)  # noqa: S311
        # Looking for a therapist with room tries slots without booking them: a stream of its own.
        self.probe_rng = random.Random(scale.seed + 16)  # noqa: S311
        # The portal's invitations, as above (kapflow.demo.group.Builder.portal_accounts).
        self.portal_rng = random.Random(scale.seed + 18)  # noqa: S311
        # When the client answered the baseline and discharge forms, as above.
        self.forms_rng = random.Random(scale.seed + 19)  # noqa: S311
        # Each client invited to the portal, by index: (invited at, by whom, accepted at or None).
        self.invited: dict[int, tuple] = {}
        self.practice = Practice.load()
        if not self.practice.address:
            # Where its sessions are held: the REMS monitoring form names the setting's address.
            self.practice.address = "14500 Ventura Blvd, Suite 210, Sherman Oaks, CA 91403"
            self.practice.save(update_fields=["address"])
        self.now = timezone.now().replace(microsecond=0)
        self.today = timezone.localdate(self.now)
        self.tz = timezone.get_current_timezone()
        self.diary = Diary(now=self.now, tz=self.tz, today=self.today)
        self.documents = {
            doc.kind: doc for doc in ConsentDocument.objects.published().order_by("kind", "version")
        }
        self.rows: dict[str, list] = {}
        self.visits: list[Visit] = []
        self.sessions: list[tuple] = []  # (visit, order) of the medication sessions held
        self.integrations: list[tuple] = []  # (medication visit, integration visit or None)
        self.responses: list[Response] = []
        # The forms the measure schedule asked (kapflow.measures.schedule): at baseline, before
        # each medication session and progress review, and at discharge, each answered on the
        # portal by its response (or still open, when it came due lately).
        self.tasks: list[MeasureTask] = []
        # Each course that began, for its reviews and its end (kapflow.demo.course), and the
        # preparation session each preparation visit recorded (its note names what it covered).
        self.courses: list[tuple] = []
        # Each course that went on to maintenance (by id of its plan): the maintenance sessions
        # held and the progress review that ended maintenance (None while it goes on).
        self.maintained: dict[int, tuple] = {}
        # Each client who withdrew after preparation: (plan, therapist, prescriber, when).
        self.withdrawn: list[tuple] = []
        self.prepared: dict[int, PreparationSession] = {}  # id(visit) -> its PreparationSession
        # The Spravato lot of each month's esketamine doses, and those doses (kapflow.controlled).
        self.month_lots: dict[datetime.date, Lot] = {}
        self.stocked: list[Administration] = []

    def add(self, name: str, obj) -> None:
        self.rows.setdefault(name, []).append(obj)

    # --- Staff, rooms, clients ---------------------------------------------------------------

    def staff(self) -> None:
        s = self.scale
        password = self.password = make_password(PASSWORD)
        users = []

        def user(key, name, credentials="", **roles):
            users.append(
                User(
                    email=f"{key}@{DOMAIN}",
                    full_name=name,
                    credentials=credentials,
                    password=password,
                    date_joined=self.now - datetime.timedelta(days=s.days + 150),
                    **roles,
                )
            )

        for n in range(s.therapists):
            name, cred = THERAPIST_NAMES[n % len(THERAPIST_NAMES)]
            if n == 0:
                user("owner", name, cred, is_therapist=True, is_practice_admin=True)
            else:
                user(f"therapist{n}", name, cred, is_therapist=True)
        for n in range(s.prescribers):
            name, cred = PRESCRIBER_NAMES[n % len(PRESCRIBER_NAMES)]
            user(f"prescriber{n + 1}", name, cred, is_prescriber=True)
        for n in range(s.coordinators):
            user(f"coordinator{n + 1}", COORDINATOR_NAMES[n % len(COORDINATOR_NAMES)], is_coordinator=True)
        for n in range(s.admins):
            user(f"admin{n + 1}", ADMIN_NAMES[n % len(ADMIN_NAMES)], is_practice_admin=True)
        User.objects.bulk_create(users)
        users = list(User.objects.filter(email__endswith=f"@{DOMAIN}").order_by("pk"))
        self.therapists = [u for u in users if u.is_therapist]
        self.prescribers = [u for u in users if u.is_prescriber]
        self.coordinators = [u for u in users if u.is_coordinator]
        for n, clinician in enumerate(self.therapists + self.prescribers):
            self.diary.day_off[clinician.pk] = n % 6  # five working days of six

        names = (
            ROOM_NAMES[: s.rooms] if s.rooms <= len(ROOM_NAMES) else [f"Room {n + 1}" for n in range(s.rooms)]
        )
        taken = set(Room.objects.values_list("name", flat=True))
        Room.objects.bulk_create([Room(name=name) for name in names if name not in taken])
        Room.objects.bulk_create(
            [
                Room(
                    name=f"Spravato Room {n + 1}",
                    rems_certified=True,
                    rems_setting_id=f"DEMO-SETTING-{n + 1:04d}",
                )
                for n in range(s.rems_rooms)
                if f"Spravato Room {n + 1}" not in taken
            ]
        )
        self.rooms = list(Room.objects.filter(name__in=names, rems_certified=False).order_by("pk"))
        self.rems_rooms = list(Room.objects.filter(rems_certified=True).order_by("pk"))[: s.rems_rooms]

    def clients(self) -> None:
        s, rng = self.scale, self.rng
        # At least `days` back, and far enough for the outcome report's last eight whole
        # quarters to have courses in each (the practice's first courses begin some weeks in).
        eighth = ended_quarters(self.today, 8)[-1][0]
        start = min(self.today - datetime.timedelta(days=s.days), eighth - datetime.timedelta(days=75))
        self.opened_on = start  # the practice's first day: its history begins here
        span = (self.today - start).days + s.ahead_days // 2
        self.intake = sorted(start + datetime.timedelta(days=rng.randrange(span)) for _ in range(s.clients))
        # The first few began about six weeks ago, so that their courses start on the next day
        # the practice holds medication sessions (a demo loaded today has sessions to run).
        for n in range(self.ready):
            self.intake[n] = self.today - datetime.timedelta(days=45 + n % 3)
        clients = []
        for n, intake in enumerate(self.intake):
            first, last = FIRST[n % len(FIRST)], LAST[(n * 7 + n // len(FIRST)) % len(LAST)]
            city, region, postal = CITIES[n % len(CITIES)]
            phone = f"(818) 555-{n % 10000:04d}"
            age = rng.randint(21, 72)
            created = min(
                self.diary.at(intake - datetime.timedelta(days=3), 9 * 60 + rng.randrange(480)),
                self.now - datetime.timedelta(hours=2),
            )
            clients.append(
                Client(
                    first_name=first,
                    last_name=last,
                    pronouns=rng.choice(["she/her", "he/him", "they/them", "", ""]),
                    date_of_birth=intake - datetime.timedelta(days=age * 365 + rng.randint(20, 340)),
                    email=f"{first.lower()}.{last.lower()}.{n}@example.com",
                    phone=phone,
                    phone_digits=digits(phone),
                    preferred_contact=rng.choice(["phone", "text", "email"]),
                    address_line=f"{100 + n * 7 % 9000} Ventura Blvd",
                    city=city,
                    region=region,
                    postal_code=postal,
                    created_by=self.coordinators[n % len(self.coordinators)],
                    created_at=created,
                )
            )
        for client in clients:
            client.search_name = client.folded_names()  # as kapflow.clients.services would
        self.client_rows = Client.objects.bulk_create(clients, batch_size=1000)

    # --- Booking -----------------------------------------------------------------------------

    def book(
        self,
        n: int,
        kind: str,
        clinician: User,
        after: datetime.date,
        *,
        virtual: bool,
        rooms: list | None = None,
        weekdays=range(6),
        latest: int | None = None,
        within: int = 60,
        count_cancel: bool = True,
    ):
        """Book the client's next visit of `kind` on the first day from `after` that fits, and
        return it (None when nothing fits within `within` days or it would be beyond the
        horizon). A past visit may have been cancelled first, and booked again later."""
        minutes = MINUTES[kind]
        horizon = self.today + datetime.timedelta(days=self.scale.ahead_days)
        place = None if virtual else (rooms or self.rooms)
        day = after
        for _ in range(within):
            if day > horizon:
                return None
            if day.weekday() in weekdays:
                found = self.diary.slot(
                    client=n,
                    user_id=clinician.pk,
                    day=day,
                    minutes=minutes,
                    rooms=place,
                    rng=self.rng,
                    latest=latest,
                )
                if found is not None:
                    start, room = found
                    begins = self.diary.at(day, start)
                    ends = begins + datetime.timedelta(minutes=minutes)
                    visit = self._visit(n, kind, clinician, begins, ends, room, virtual)
                    if visit.status == Visit.Status.CANCELLED:
                        self.visits.append(visit)  # the slot stays free; booked again below
                        if count_cancel:
                            return self.book(
                                n,
                                kind,
                                clinician,
                                day + datetime.timedelta(days=1),
                                virtual=virtual,
                                rooms=rooms,
                                weekdays=weekdays,
                                latest=latest,
                                within=within,
                                count_cancel=False,
                            )
                        day += datetime.timedelta(days=1)
                        continue
                    self.diary.hold(
                        client=n, user_id=clinician.pk, day=day, start=start, minutes=minutes, room=room
                    )
                    self.visits.append(visit)
                    return visit
            day += datetime.timedelta(days=1)
        return None

    def _visit(self, n, kind, clinician, begins, ends, room, virtual) -> Visit:
        past = ends <= self.now
        status = Visit.Status.COMPLETED if past else Visit.Status.SCHEDULED
        reason = ""
        roll = self.rng.random()
        if past and roll < 0.04:
            status, reason = Visit.Status.CANCELLED, self.rng.choice(CANCEL_REASONS)
        elif past and roll < 0.06 and kind in (Visit.Kind.THERAPY, Visit.Kind.DISCOVERY_CALL):
            status = Visit.Status.NO_SHOW
        client = self.client_rows[n]
        booked = min(begins - datetime.timedelta(days=self.rng.randint(2, 12)), self.now)
        booked_until = lambda moment: max(moment - datetime.timedelta(hours=20), booked)  # noqa: E731
        return Visit(
            client=client,
            kind=kind,
            starts_at=begins,
            ends_at=ends,
            modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
            room=room,
            video_link=f"https://video.{DOMAIN}/{client.pk}-{kind[:3]}-{begins:%y%m%d%H%M}"
            if virtual
            else "",
            clinician=clinician,
            status=status,
            cancel_reason=reason,
            status_changed_at=(booked_until(begins) if status == Visit.Status.CANCELLED else ends)
            if past
            else None,
            created_at=max(booked, client.created_at),
            created_by=self.coordinators[n % len(self.coordinators)],
        )

    @staticmethod
    def held(visit: Visit | None) -> bool:
        return visit is not None and visit.status == Visit.Status.COMPLETED

    # --- One client's way through the pathway ------------------------------------------------

    def respond(self, n, instrument, total, when, context, entered_by=None) -> Response | None:
        if when > self.now:
            return None
        # Never a positive answer to an alert item (item9 stays 0).
        response = new_response(self.client_rows[n], instrument, total, when, context, entered_by)
        self.responses.append(response)
        return response

    def before_session(self, n, session: Visit, scores) -> None:
        """The forms before a medication session, as the measure schedule asks them: made when the
        session was booked, due the practice's reminder time before it, and answered on the portal
        PORTAL_LEAD before it (kapflow.measures.schedule)."""
        self.visit_forms(n, session, Response.Context.PRE_SESSION, scores)

    def before_review(self, n, review: Visit, scores) -> None:
        """The forms before a progress review (PHQ-9, GAD-7 and PCL-5), as before a session."""
        self.visit_forms(n, review, Response.Context.REVIEW, scores)

    def visit_forms(self, n, visit: Visit, reason: str, scores) -> None:
        for instrument, total in scores:
            response = self.respond(n, instrument, total, visit.starts_at - PORTAL_LEAD, reason)
            if response is None:
                continue  # not answered yet: the schedule's sweep asks for it (write)
            self.tasks.append(
                MeasureTask(
                    client=response.client,
                    instrument=instrument.key,
                    reason=reason,
                    visit=visit,
                    due_at=visit_due(visit.starts_at, self.practice.appointment_reminder_hours),
                    created_at=visit.created_at,
                    response=response,
                )
            )

    def asked(self, n, reason: str, scores, at: datetime.datetime) -> None:
        """Forms the measure schedule asked at `at` (not for a visit: baseline, discharge), due at
        once, each answered on the portal some hours later; one not answered by now is still
        open. Nothing when `at` is still to come: the load's own sweep asks them then (write)."""
        if at > self.now:
            return
        answered = at + datetime.timedelta(hours=self.forms_rng.randint(*ANSWERED_WITHIN))
        for instrument, total in scores:
            self.tasks.append(
                MeasureTask(
                    client=self.client_rows[n],
                    instrument=instrument.key,
                    reason=reason,
                    due_at=at,
                    created_at=at,
                    response=self.respond(n, instrument, total, answered, reason),
                )
            )

    def at_discharge(self, n, ended_on, pcl: int, review: Visit) -> None:
        """The forms the measure schedule asks once the discharge after `review` is signed
        (PHQ-9, GAD-7 and PCL-5), on the scores the course ended on."""
        decided = demo_course.decided_at(review.ends_at - REVIEW_WRITTEN_BEFORE_END, self.now)
        signed = demo_course.discharge_signed_at(decided, self.now)
        self.asked(n, Response.Context.DISCHARGE, (*ended_on, (PCL5, pcl)), signed)

    @property
    def ready(self) -> int:
        return min(self.scale.clients, max(4, self.scale.clients // 300))

    def pathway(self, n: int) -> None:  # noqa: C901, PLR0912, PLR0915  (one client's story, in order)
        rng, client = self.rng, self.client_rows[n]
        # The coordinator gives a new client to a therapist with room for a course in the weeks
        # it would run; when none has, the client is told the wait and goes elsewhere after the
        # discovery call.
        therapist = self._therapist_with_room(n)
        place = therapist is not None or n < self.ready
        therapist = therapist or self.therapists[n % len(self.therapists)]
        prescriber = self.prescribers[n % len(self.prescribers)]
        day = lambda visit: timezone.localdate(visit.starts_at)  # noqa: E731
        next_day = lambda visit, days=1: day(visit) + datetime.timedelta(days=days)  # noqa: E731
        self.add(
            "team",
            CareTeamMember(
                client=client,
                user=therapist,
                role="primary_therapist",
                added_by=client.created_by,
                added_at=client.created_at,
            ),
        )
        if n % 6 != 5:
            self.add(
                "contacts",
                EmergencyContact(
                    client=client,
                    name=f"{rng.choice(FIRST)} {client.last_name}",
                    relationship=rng.choice(["partner", "sister", "brother", "friend", "parent"]),
                    phone=f"(818) 555-{rng.randint(2000, 8999)}",
                ),
            )
        stage = Client.Stage.CONSULTATION
        call = self.book(n, Visit.Kind.DISCOVERY_CALL, therapist, self.intake[n], virtual=True)
        if call is None:
            return self._stage(client, stage)
        if not place:
            # No therapist has room: the client is told the wait at the call (or, when they missed
            # it, when they ring back the next day) and nothing more is booked.
            # The therapist records why on the chart. A call still to come stays booked.
            told = call.ends_at + (datetime.timedelta() if self.held(call) else RANG_BACK)
            if call.status == Visit.Status.SCHEDULED or told > self.now:
                return self._stage(client, stage)
            return self._not_proceeding(client, stage, therapist, told, NO_ROOM)
        if call.status != Visit.Status.SCHEDULED:
            # The therapist invites a client who goes on to the portal once the call is over (or
            # when they ring back after missing it): the baseline questionnaires are answered there.
            self._invite(
                n, therapist, call.ends_at + (datetime.timedelta() if self.held(call) else RANG_BACK)
            )
        consult = self.book(
            n, Visit.Kind.CONSULTATION, therapist, next_day(call, 3), virtual=rng.random() < 0.35
        )
        if not self.held(consult):
            return self._stage(client, stage)
        phq0, gad0 = rng.randint(11, 24), rng.randint(8, 19)
        share = rng.choice(END_SHARES)
        pcl0 = pcl_baseline(phq0, gad0)
        fit = rng.random() > 0.1 or n < self.ready
        if fit:
            # Past the consultation, on the way to a course: the schedule's next sweep asks the
            # baseline questionnaires (kapflow.measures.schedule.BEFORE_COURSE).
            baseline = ((PHQ9, phq0), (GAD7, gad0), (PCL5, pcl0))
            self.asked(n, Response.Context.BASELINE, baseline, consult.ends_at + SWEPT_AFTER)
        self.add(
            "consultations",
            Consultation(
                client=client,
                clinician=therapist,
                held_on=day(consult),
                why_kap="Years of depression that medication and talk therapy have only dented.",
                history="Low mood most days; poor sleep; withdrawn from friends and work.",
                previous_treatment="Two antidepressants; a year of CBT; weekly therapy at present.",
                supports="A partner or a close friend; an outside therapist who knows about this.",
                expectations="Not a cure: some room to move, and a way back into the work of therapy.",
                goals="Lift the mood; sleep better; be back in touch with friends.",
                decision="proceed" if fit else "not_a_fit",
                decision_reason="" if fit else "Active substance use to address first; referred on.",
                referral_note="" if fit else "Referred to an outpatient programme.",
                recorded_at=consult.ends_at,
            ),
        )
        if not fit:
            return self._stage(client, Client.Stage.NOT_PROCEEDING)
        stage = Client.Stage.SCREENING
        evaluation = self.book(
            n, Visit.Kind.MEDICAL_EVALUATION, prescriber, next_day(consult, 4), virtual=False
        )
        if not self.held(evaluation):
            return self._stage(client, stage)
        self.add(
            "team",
            CareTeamMember(
                client=client,
                user=prescriber,
                role="prescriber",
                added_by=client.created_by,
                added_at=evaluation.starts_at,
            ),
        )
        screening = self._screening(n, evaluation, prescriber)
        cleared = rng.random() > 0.05 or n < self.ready
        decided = evaluation.ends_at - datetime.timedelta(minutes=5)
        valid_until = self._clearance(
            n,
            screening,
            prescriber,
            decided,
            cleared=cleared,
            findings="Well; no cardiovascular findings. BP within range."
            if cleared
            else "Blood pressure persistently above range; refer to primary care first.",
        )
        if not cleared:
            return self._not_proceeding(client, stage, prescriber, decided, NOT_CLEARED)
        screened_until = timezone.localdate(screening.completed_at) + datetime.timedelta(
            days=self.practice.screening_valid_days
        )
        esketamine = rng.random() < 0.22
        modality = (
            CoursePlan.Modality.IN_PERSON
            if esketamine
            else rng.choices(
                [CoursePlan.Modality.IN_PERSON, CoursePlan.Modality.MIXED, CoursePlan.Modality.VIRTUAL],
                [6, 2, 2],
            )[0]
        )
        weekly = rng.random() < 0.75 or n < self.ready
        planned = rng.choice([6, 6, 8]) if weekly else 4
        # What the order prescribes; the maintenance order, if it comes to one, prescribes the same.
        terms = {
            "drug": MedicationOrder.Drug.ESKETAMINE if esketamine else MedicationOrder.Drug.KETAMINE,
            "route": INTRANASAL if esketamine else SUBLINGUAL,
            "unit": MedicationOrder.Unit.MG,
            "dose_min": Decimal(56 if esketamine else 200),
            "dose_max": Decimal(84 if esketamine else 300),
            "boosters_allowed": 0 if esketamine else 1,
            "booster_max_mg": None if esketamine else Decimal(100),
            "instructions": ""
            if esketamine
            else "Hold the lozenge under the tongue; spit, do not swallow, after 15 minutes.",
        }
        order = MedicationOrder(
            client=client,
            prescriber=prescriber,
            created_at=decided + datetime.timedelta(minutes=3),
            sessions_authorised=planned,
            starts_on=day(evaluation),
            ends_on=day(evaluation) + datetime.timedelta(days=ORDER_DAYS),
            **terms,
        )
        self.add("orders", order)
        if esketamine:
            # Enrolled in the Spravato REMS with the prescriber at the evaluation, before the first
            # dose (kapflow.medical.routes asks for it at the dose).
            self.add(
                "rems_enrolments",
                RemsEnrolment(
                    client=client,
                    enrolled_on=day(evaluation),
                    patient_rems_id=f"PT-{n + 1:06d}",
                    prescriber=prescriber,
                    recorded_by=prescriber,
                    recorded_at=decided + datetime.timedelta(minutes=5),
                ),
            )
        virtual_plan = modality != CoursePlan.Modality.IN_PERSON
        stage = Client.Stage.CONSENT
        prep1 = self.book(
            n,
            Visit.Kind.PREPARATION,
            therapist,
            next_day(evaluation, 2),
            virtual=modality == CoursePlan.Modality.VIRTUAL,
        )
        if not self.held(prep1):
            return self._stage(client, stage)
        signed = prep1.starts_at + datetime.timedelta(minutes=5)
        for kind in (Kind.KAP, Kind.TELEHEALTH) if virtual_plan else (Kind.KAP,):
            document = self.documents[kind]
            self.add(
                "signatures",
                Signature(
                    document=document,
                    kind=kind,
                    client=client,
                    signer=Signature.Signer.CLIENT,
                    signer_name=name_on_file(client),
                    typed_name=name_on_file(client),
                    decision=Signature.Decision.AGREE,
                    signed_at=signed,
                    ip_address="127.0.0.1",
                    text_sha256=document.sha256,
                    presented_by=therapist,
                ),
            )
        plan = CoursePlan(
            client=client,
            goals="Ease the depression; loosen the inner critic; re-engage with friends and work.",
            planned_sessions=planned,
            cadence=CoursePlan.Cadence.WEEKLY if weekly else CoursePlan.Cadence.FORTNIGHTLY,
            modality=modality,
            review_after=f"{planned // 2}, {planned}",
            created_at=prep1.ends_at,
            updated_by=therapist,
        )
        self.add("plans", plan)
        preps = [prep1]
        stage = Client.Stage.PREPARATION
        prep2 = self.book(
            n,
            Visit.Kind.PREPARATION,
            therapist,
            next_day(prep1, 3),
            virtual=modality == CoursePlan.Modality.VIRTUAL,
        )
        if prep2 is not None:
            preps.append(prep2)
        for k, prep in enumerate(preps):
            if self.held(prep):
                session = PreparationSession(
                    client=client,
                    clinician=therapist,
                    held_on=day(prep),
                    topics=Topic.values[:5] if k == 0 else Topic.values[5:],
                    day_of_instructions_given=k == 1,
                    intentions="To meet the low mood with some curiosity rather than a fight.",
                    recorded_at=prep.ends_at,
                )
                self.add("preparations", session)
                self.prepared[id(prep)] = session
        if not self.held(prep2):
            return self._stage(client, stage)
        # The course: Monday to Thursday and Saturday, so that the integration session falls
        # within the window after each; only while the screening, clearance and order hold.
        runner = prescriber if esketamine else therapist
        rooms = self.rems_rooms if esketamine else self.rooms
        after = (
            max(next_day(prep2, 5), next_session_day(self.today)) if n < self.ready else next_day(prep2, 5)
        )
        doses, pending = [], False
        for k in range(planned):
            virtual = modality == CoursePlan.Modality.VIRTUAL or (
                modality == CoursePlan.Modality.MIXED and k % 2 == 1
            )
            last_ok = min(screened_until, valid_until, order.ends_on)
            found = self._dose(n, runner, therapist, after, virtual=virtual, rooms=rooms, last_ok=last_ok)
            if found is None:
                break
            session, integration = found
            if not self.held(session):
                pending = True
            else:
                doses.append(session)
                self.sessions.append((session, order))
                self.integrations.append((session, integration))
                stage = Client.Stage.COURSE
            after = next_day(session, 7 if weekly else 14)
        # Questionnaires: before each session, and weekly while in care.
        for k, session in enumerate(doses):
            scores = (
                (PHQ9, self._score(phq0, share, k, planned)),
                (GAD7, self._score(gad0, share, k, planned)),
            )
            self.before_session(n, session, scores)
        # Done when every session planned was held, or when the course was cut short (nothing
        # more booked, the last session three weeks ago).
        course_done = not pending and (
            len(doses) == planned
            or bool(doses)
            and timezone.localdate(doses[-1].starts_at) + datetime.timedelta(days=21) < self.today
        )
        end = outcome = review = None
        if doses and course_done:
            review = self.book(
                n, Visit.Kind.PROGRESS_REVIEW, therapist, next_day(doses[-1], 7), virtual=virtual_plan
            )
            if self.held(review):
                end = review.ends_at
                # The scores the course ended on: at its discharge, before each maintenance
                # session, and at the end of maintenance.
                ended_on = (
                    (PHQ9, self._score(phq0, share, planned, planned)),
                    (GAD7, self._score(gad0, share, planned, planned)),
                )
                pcl_end = self._score(pcl0, share, planned, planned)
                self.before_review(n, review, (*ended_on, (PCL5, pcl_end)))
                order.discontinued_at = end
                order.discontinued_by = prescriber
                order.discontinue_reason = "Course complete; reviewed at the progress review."
                stage, outcome = Client.Stage.DISCHARGED, "end"
                if rng.random() < 0.45:
                    stage, outcome = Client.Stage.MAINTENANCE, "maintenance"
                    # The prescriber writes the maintenance order as the review ends: the same
                    # prescription, for the maintenance plan's sessions.
                    maintenance = MedicationOrder(
                        client=client,
                        prescriber=prescriber,
                        created_at=end,
                        sessions_authorised=demo_course.MAINTENANCE_SESSIONS,
                        starts_on=day(review),
                        ends_on=day(review) + datetime.timedelta(days=ORDER_DAYS),
                        **terms,
                    )
                    self.add("orders", maintenance)
                    held, ended = self._maintenance(
                        n,
                        (therapist, runner),
                        review,
                        maintenance,
                        modality=modality,
                        rooms=rooms,
                        valid_until=valid_until,
                        screened_until=screened_until,
                        scores=ended_on,
                    )
                    self.maintained[id(plan)] = (held, ended)
                    end = None
                    if ended is not None:
                        end = ended.ends_at
                        self.before_review(n, ended, (*ended_on, (PCL5, pcl_end)))
                        self.at_discharge(n, ended_on, pcl_end, ended)
                        maintenance.discontinued_at = end
                        maintenance.discontinued_by = prescriber
                        maintenance.discontinue_reason = (
                            "Maintenance complete; reviewed at the progress review."
                        )
                        stage = Client.Stage.DISCHARGED
                else:
                    self.at_discharge(n, ended_on, pcl_end, review)
        if doses:
            self.courses.append((plan, doses, therapist, prescriber, outcome, review if outcome else None))
        elif not pending and prep2.ends_at + WITHDREW_AFTER <= self.now:
            # Prepared, but no session could be booked in the days after (no room in time, or
            # the screening or the order running out): the client withdrew, and the therapist
            # closed the course some weeks later with a discharge.
            end = prep2.ends_at + WITHDREW_AFTER
            order.discontinued_at = end
            order.discontinued_by = prescriber
            order.discontinue_reason = "The client withdrew before the first medication session."
            self.withdrawn.append((plan, therapist, prescriber, end))
            stage = Client.Stage.DISCHARGED
        weekly_from = consult.starts_at + datetime.timedelta(days=7)
        weekly_to = min(end or self.now, self.now)
        first_dose = doses[0].starts_at if doses else None
        week = 0
        while weekly_from + datetime.timedelta(days=7 * week) < weekly_to:
            when = weekly_from + datetime.timedelta(days=7 * week, hours=rng.randint(0, 10))
            week += 1
            if when > weekly_to:
                break
            if first_dose is None or when < first_dose:
                phq, gad = phq0 + rng.choice((-1, 0, 0, 1)), gad0 + rng.choice((-1, 0, 0, 1))
            else:
                done = sum(1 for s in doses if s.starts_at <= when)
                phq = self._score(phq0, share, done, planned) + rng.choice((-1, 0, 0, 1))
                gad = self._score(gad0, share, done, planned) + rng.choice((-1, 0, 0, 1))
            self.respond(n, PHQ9, max(0, min(27, phq)), when, "weekly")
            self.respond(n, GAD7, max(0, min(21, gad)), when, "weekly")
        return self._stage(client, stage)

    def _therapist_with_room(self, n: int) -> User | None:
        """The first therapist, from the client's turn on, with room for the client's course:
        in each of its first COURSE_WEEKS weeks from COURSE_AFTER_DAYS after the intake, a
        session day with a medication session's time free (and a room) and an integration
        session's on one of the INTEGRATION_DAYS after (None: not one has). The diary already
        holds every earlier client's visits, booked ahead. It looks at the therapist and the
        ordinary rooms only: not at the prescriber and the Spravato room an esketamine course
        needs, nor at the integration window to the hour, so a few clients it takes on still
        cannot be booked after preparation, and withdraw."""
        therapists = self.therapists
        first = self.intake[n] + datetime.timedelta(days=COURSE_AFTER_DAYS)
        for k in range(len(therapists)):
            therapist = therapists[(n + k) % len(therapists)]
            if all(
                any(
                    self._room_on(n, therapist, first + datetime.timedelta(days=7 * week + d))
                    for d in range(7)
                )
                for week in range(COURSE_WEEKS)
            ):
                return therapist
        return None

    def _room_on(self, n: int, therapist: User, day: datetime.date) -> bool:
        """Whether `therapist` has a medication session's time and a room free on `day`, and an
        integration session's time on one of the INTEGRATION_DAYS after (tried, not booked)."""
        if day.weekday() not in SESSION_WEEKDAYS:
            return False
        slot = self.diary.slot
        session = slot(
            client=n,
            user_id=therapist.pk,
            day=day,
            minutes=MINUTES[Visit.Kind.MEDICATION],
            rooms=self.rooms,
            rng=self.probe_rng,
        )
        if session is None:
            return False
        minutes = MINUTES[Visit.Kind.INTEGRATION]
        return any(
            slot(client=n, user_id=therapist.pk, day=after, minutes=minutes, rooms=None, rng=self.probe_rng)
            for after in (day + datetime.timedelta(days=d) for d in range(1, INTEGRATION_DAYS + 1))
        )

    def _integration(self, n, therapist, session, window, virtual) -> Visit | None:
        """The integration session after `session`, starting within the window after it ends."""
        first = timezone.localdate(session.ends_at) + datetime.timedelta(days=1)
        for offset in range(3):
            day = first + datetime.timedelta(days=offset)
            if self.diary.at(day, OPEN) > window:
                return None
            # The latest start in the day's wall-clock minutes (the diary's), whatever the clocks do.
            local = timezone.localtime(window, self.tz)
            latest = (local.date() - day).days * 24 * 60 + local.hour * 60 + local.minute
            visit = self.book(
                n,
                Visit.Kind.INTEGRATION,
                therapist,
                day,
                virtual=virtual,
                latest=latest,
                within=1,
                count_cancel=False,
            )
            if visit is not None and visit.status == Visit.Status.CANCELLED:
                continue
            if visit is not None:
                return visit
        return None

    def _unbook(self, n: int, visit: Visit) -> None:
        """Take back a visit just booked (its integration could not be fitted in the window)."""
        for at in range(len(self.visits) - 1, -1, -1):
            if self.visits[at] is visit:
                del self.visits[at]
                break
        day = timezone.localdate(visit.starts_at)
        local = timezone.localtime(visit.starts_at)
        start = local.hour * 60 + local.minute
        span = (start, start + visit.minutes)
        self.diary.busy[("u", visit.clinician.pk, day)].remove(span)
        if visit.room is not None:
            self.diary.busy[("r", visit.room.pk, day)].remove(span)
        self.diary.load[(visit.clinician.pk, day)] -= visit.minutes
        self.diary.client_days[n].discard(day)

    def _dose(self, n, runner, therapist, after, *, virtual, rooms, last_ok) -> tuple[Visit, Visit] | None:
        """A medication session on the first session day from `after` that fits (within ten
        days, none after `last_ok`), with its integration session within the window after it:
        (session, integration), or None when none fits."""
        for _attempt in range(6):
            session = self.book(
                n,
                Visit.Kind.MEDICATION,
                runner,
                after,
                virtual=virtual,
                rooms=rooms,
                weekdays=SESSION_WEEKDAYS,
                within=10,
            )
            if session is None:
                return None
            if timezone.localdate(session.starts_at) > last_ok:
                self._unbook(n, session)
                return None
            # Counted in UTC: an aware local time plus hours adds wall-clock hours, one too many
            # (or few) across a change of the clocks.
            window = session.ends_at.astimezone(datetime.UTC) + datetime.timedelta(
                hours=self.practice.integration_window_hours
            )
            integration = self._integration(n, therapist, session, window, virtual)
            if integration is not None:
                return session, integration
            self._unbook(n, session)
            after = timezone.localdate(session.starts_at) + datetime.timedelta(days=1)
        return None

    def _maintenance(  # noqa: PLR0913  (one client's maintenance, in order)
        self, n, clinicians, review, order, *, modality, rooms, valid_until, screened_until, scores
    ) -> tuple[list[Visit], Visit | None]:
        """Maintenance after the course (docs/course.md, "Maintenance"): therapy every fortnight
        for a few months, and a medication session every `maintenance_every_weeks` weeks, up to
        the maintenance plan's sessions, under the maintenance `order`, each with its
        integration session in the window and its questionnaires before it. The screening is
        repeated at the visit before a session that would fall after it runs out; none is held
        past the clearance or the order. A week after the last visit, a progress review ends it.

        Returns the medication sessions held and the review that ended maintenance: None while
        it goes on (a visit still to come, or not one medication session held yet)."""
        rng, practice = self.rng, self.practice
        therapist, runner = clinicians
        remote = modality != CoursePlan.Modality.IN_PERSON
        day = lambda visit: timezone.localdate(visit.starts_at)  # noqa: E731
        every = datetime.timedelta(weeks=practice.maintenance_every_weeks)
        valid = datetime.timedelta(days=practice.screening_valid_days)
        talk_after, dose_after = day(review) + FORTNIGHT, day(review) + every
        talks = rng.randint(6, 16)
        held, last_seen, last_day = [], review, day(review)  # the last visit held; the last booked
        to_come = no_more_doses = False  # a visit booked after now; no more sessions to book
        while True:
            if (
                not no_more_doses
                and len(held) < demo_course.MAINTENANCE_SESSIONS
                and dose_after <= talk_after
            ):
                # `_dose` books within ten days of `dose_after` (its retries, when an integration
                # does not fit, may go later, but never past `last_ok`).
                latest = dose_after + datetime.timedelta(days=10)
                if latest > screened_until:
                    if day(last_seen) + valid < latest:
                        no_more_doses = True  # no visit near enough to repeat the screening at
                        continue
                    repeat = self._screening(n, last_seen, last_seen.clinician)
                    screened_until = day(last_seen) + valid
                    # The prescriber decides on the repeated screening the next day, as on any
                    # (it waits on their dashboard until then). The sessions stay within the
                    # first clearance: the new one only lasts longer.
                    decided = repeat.completed_at + REDECIDED_AFTER
                    if decided <= self.now:
                        self._clearance(
                            n, repeat, order.prescriber, decided, cleared=True, findings=RECLEARED
                        )
                virtual = modality == CoursePlan.Modality.VIRTUAL or (
                    modality == CoursePlan.Modality.MIXED and len(held) % 2 == 1
                )
                last_ok = min(screened_until, valid_until, order.ends_on)
                found = self._dose(
                    n, runner, therapist, dose_after, virtual=virtual, rooms=rooms, last_ok=last_ok
                )
                if found is None:
                    no_more_doses = True
                    continue
                session, integration = found
                last_day = max(last_day, day(integration))
                if not self.held(session):
                    to_come = no_more_doses = True  # the next session is booked
                    continue
                held.append(session)
                self.sessions.append((session, order))
                self.integrations.append((session, integration))
                self.before_session(n, session, scores)
                last_seen = integration if self.held(integration) else session
                dose_after = day(session) + every
                if len(held) == demo_course.MAINTENANCE_SESSIONS:
                    break  # the plan's sessions are held: its review ends maintenance
                continue
            if talks == 0:
                break
            talk = self.book(
                n, Visit.Kind.THERAPY, therapist, talk_after, virtual=remote and rng.random() < 0.5
            )
            if talk is None:
                to_come = True  # beyond the diary's horizon, or nothing free within sixty days
                break
            talks -= 1
            last_day = max(last_day, day(talk))
            if talk.status == Visit.Status.SCHEDULED:
                to_come = True
            elif self.held(talk):
                last_seen = talk
            talk_after = day(talk) + FORTNIGHT
        if to_come or not held:
            return held, None
        ended = self.book(
            n, Visit.Kind.PROGRESS_REVIEW, therapist, last_day + datetime.timedelta(days=7), virtual=remote
        )
        return held, ended if self.held(ended) else None

    def _screening(self, n: int, visit: Visit, by: User) -> Screening:
        """The contraindication screening done at `visit` by `by`: nothing found (a tenth of
        clients are not a fit, a few not cleared, for reasons of their own)."""
        client = self.client_rows[n]
        answers = {finding.key: False for finding in findings.FINDINGS}
        medications = [{"name": "Sertraline 100 mg", "class": "other"}]
        age = client.age(timezone.localdate(visit.starts_at))
        flags = findings.flags_for(answers=answers, medications=medications, age=age)
        screening = Screening(
            client=client,
            answers=answers,
            medications=medications,
            flags=[flag.as_dict() for flag in flags],
            age=age,
            completed_at=visit.starts_at + datetime.timedelta(minutes=20),
            entered_by=by,
        )
        self.add("screenings", screening)
        return screening

    def _clearance(self, n, screening: Screening, prescriber: User, decided, *, cleared: bool, findings: str):
        """The prescriber's clearance decision on `screening`; returns the day it is valid until
        (None when not cleared)."""
        valid_until = None
        if cleared:
            valid_until = timezone.localdate(decided) + datetime.timedelta(
                days=30 * self.practice.clearance_valid_months
            )
        self.add(
            "clearances",
            Clearance(
                client=self.client_rows[n],
                screening=screening,
                prescriber=prescriber,
                decided_at=decided,
                decision=Clearance.Decision.CLEARED if cleared else Clearance.Decision.NOT_CLEARED,
                systolic=112 + n % 18,
                diastolic=70 + n % 12,
                heart_rate=62 + n % 20,
                weight_kg=Decimal(55 + n % 45),
                findings=findings,
                valid_until=valid_until,
            ),
        )
        return valid_until

    @staticmethod
    def _score(baseline: int, share: float, step: int, steps: int) -> int:
        progress = (1 - math.exp(-2.5 * step / steps)) / (1 - math.exp(-2.5))
        return max(0, round(baseline * (1 - (1 - share) * progress)))

    @staticmethod
    def _stage(client: Client, stage: str) -> None:
        client.stage = stage

    def _not_proceeding(self, client: Client, stage: str, clinician: User, at, reason: str) -> None:
        """The client goes no further, and the clinician moves them to Not proceeding by hand with
        the reason, as kapflow.clients.services.stage_change records it: the product moves a
        client there by itself only on a consultation's "not a fit"."""
        self.add(
            "stage_changes",
            StageChange(
                client=client,
                from_stage=stage,
                to_stage=Client.Stage.NOT_PROCEEDING,
                reason=reason,
                changed_by=clinician,
                changed_at=at,
            ),
        )
        self._stage(client, Client.Stage.NOT_PROCEEDING)

    def _invite(self, n: int, therapist: User, at: datetime.datetime) -> None:
        """The portal invitation sent at `at`, and when the client accepted it: within hours,
        long before the baseline questionnaires they answer there (the consultation is days
        after the call). None while it is still to be accepted."""
        if at > self.now:
            return
        accepted = at + datetime.timedelta(minutes=self.portal_rng.randint(*demo_portal.ACCEPTED_WITHIN))
        self.invited[n] = (at, therapist, accepted if accepted <= self.now else None)

    # --- Medication-session records ----------------------------------------------------------

    def runbook(self, visit: Visit, order: MedicationOrder) -> None:
        rng, practice = self.rng, self.practice
        start, who = visit.starts_at, visit.clinician

        def at(minutes: float) -> datetime.datetime:
            return start + datetime.timedelta(minutes=minutes)

        book = Runbook(visit=visit, created_at=at(-10))
        dose_at = at(DOSE_AT)
        discharged = dose_at + datetime.timedelta(minutes=practice.min_monitoring_minutes + 1)
        book.alert_and_oriented = book.steady_on_feet = book.escort_present = True
        book.discharged_at, book.discharged_by = discharged, who
        book.signed_at, book.signed_by = discharged + datetime.timedelta(minutes=2), who
        self.add("runbooks", book)
        if visit.is_virtual:
            client = visit.client
            self.add(
                "safety_plans",
                SafetyPlan(
                    runbook=book,
                    address=f"{client.address_line}, {client.city}, {client.region} {client.postal_code}",
                    chaperone_name=f"{rng.choice(FIRST)} {client.last_name} (partner)",
                    chaperone_phone=f"(818) 555-{rng.randint(2000, 8999)}",
                    chaperone_is_adult=True,
                    chaperone_present=True,
                    emergency_contact=f"{rng.choice(FIRST)} {client.last_name}, (818) 555-0178",
                    nearest_emergency_department="Providence Cedars-Sinai Tarzana, 18321 Clark St",
                    has_bp_cuff=True,
                    recorded_by=who,
                    recorded_at=at(-8),
                ),
            )
        self.add(
            "checklists",
            DayOfChecklist(
                runbook=book,
                transport_without_driving=True,
                transport_detail=rng.choice(["Partner drives home", "Rideshare booked", "Friend collects"]),
                last_food_at=at(-rng.choice([240, 300, 600])),
                last_liquid_at=at(-rng.choice([60, 90, 120])),
                substances=[],
                pregnancy=DayOfChecklist.Pregnancy.NOT_APPLICABLE,
                recorded_by=who,
                recorded_at=at(2),
            ),
        )
        base = (112 + rng.randint(0, 20), 70 + rng.randint(0, 14), 60 + rng.randint(0, 24))
        baseline = None
        for minute in PREDOSE_AT:
            taken = at(minute)
            reading = rules.Reading(taken, base[0] - (minute == PREDOSE_AT[0]) * 2, base[1], base[2], 98)
            self._vitals(book, VitalsReading.Phase.PRE_DOSE, reading, None, who)
            baseline = reading
        self.add(
            "phases",
            PhaseMark(runbook=book, phase="opening", started_at=start, recorded_by=who, recorded_at=start),
        )
        if order.route == INTRANASAL:
            self.add(
                "on_site",
                PrescriberOnSite(
                    runbook=book,
                    prescriber=order.prescriber,
                    on_site_at=at(-5),
                    recorded_by=who,
                    recorded_at=at(-5),
                ),
            )
        low, high = order.range_mg()
        sublingual = order.route == SUBLINGUAL
        step = rng.choice([0, 1, 2, 2, 3, 4])
        lot_number = f"KL{rng.randint(21000, 29999)}"
        lot = None
        dose_mg = low + (high - low) * Decimal(step) / 4
        if order.route == INTRANASAL:
            # Whole 28 mg devices (56 or 84 mg), from the month's Spravato lot (stock_lots).
            dose_mg = low if step <= 2 else high
            lot = self.month_lots[_month(timezone.localdate(dose_at, self.tz))]
            lot_number = lot.lot_number
        dose = Administration(
            runbook=book,
            order=order,
            given_at=dose_at,
            route=order.route,
            dose_mg=dose_mg,
            lot_number=lot_number,
            lot=lot,
            given_by=who,
            self_administered=sublingual,
            observed_by=who if sublingual else None,
            recorded_by=who,
            recorded_at=dose_at,
        )
        self.add("administrations", dose)
        if lot is not None:
            self.stocked.append(dose)
        self.add(
            "phases",
            PhaseMark(
                runbook=book, phase="medicine", started_at=dose_at, recorded_by=who, recorded_at=dose_at
            ),
        )
        every = 10 if visit.is_virtual else self.scale.vitals_every_minutes
        peak = rng.randint(6, 22)
        for minute in range(every, practice.min_monitoring_minutes + 1, every):
            # A rise that peaks at 30-40 minutes and settles by the end, well under the alerts.
            shape = math.exp(-(((minute - 35) / 30) ** 2))
            reading = rules.Reading(
                dose_at + datetime.timedelta(minutes=minute),
                base[0] + round(peak * shape) + rng.randint(-2, 2),
                base[1] + round(peak * 0.5 * shape) + rng.randint(-1, 1),
                base[2] + round(peak * 0.3 * shape) + rng.randint(-2, 2),
                rng.choice([96, 97, 98, 99]),
            )
            self._vitals(book, VitalsReading.Phase.IN_SESSION, reading, baseline, who)
        for minutes, sedation, dissociation in ((20, 1, 2), (50, 1, 1), (90, 0, 0), (118, 0, 0)):
            self.add(
                "ratings",
                Rating(
                    runbook=book,
                    rated_at=dose_at + datetime.timedelta(minutes=minutes),
                    sedation=sedation,
                    dissociation=dissociation,
                    recorded_by=who,
                    recorded_at=dose_at + datetime.timedelta(minutes=minutes),
                ),
            )
        if order.route == INTRANASAL:
            # The REMS monitoring form's answers, given before the signature as the runbook asks
            # (kapflow.dosing.rems); the form submitted two days later, once that day has come.
            submitted = timezone.localdate(start) + datetime.timedelta(days=2)
            self.add(
                "rems_reports",
                RemsReport(
                    runbook=book,
                    first_treatment=self.first_spravato.get(visit.client_id) == start,
                    no_concomitant=True,
                    sedation=False,
                    dissociation=True,
                    respiratory_depression=False,
                    vitals_ok_before_dosing=True,
                    vitals_ok_before_discharge=True,
                    ready_to_leave_minutes=rng.choice([80, 90, 100, 110]),
                    answered_by=who,
                    answered_at=discharged,
                    submitted_on=submitted if submitted <= self.today else None,
                    submitted_by=order.prescriber if submitted <= self.today else None,
                    submission_reference=f"RM{visit.pk or rng.randint(10**6, 10**7)}"
                    if submitted <= self.today
                    else "",
                ),
            )
        if rng.random() < 0.07:
            noted = dose_at + datetime.timedelta(minutes=25)
            event = AdverseEvent(
                runbook=book,
                noted_at=noted,
                kind=rng.choice(
                    [AdverseEvent.Kind.NAUSEA, AdverseEvent.Kind.DIZZINESS, AdverseEvent.Kind.ANXIETY]
                ),
                severity=AdverseEvent.Severity.MILD,
                action_taken="Sat with the client, sips of water; settled within 15 minutes.",
                recorded_by=who,
                recorded_at=noted + datetime.timedelta(minutes=1),
            )
            self.add("events", event)
            reviewed = book.signed_at + datetime.timedelta(hours=rng.randint(2, 20))
            if reviewed <= self.now:
                self.add(
                    "reviews",
                    SafetyReview(
                        adverse_event=event,
                        note="Reviewed; expected and self-limiting. No change to the order.",
                        reviewed_by=order.prescriber,
                        reviewed_at=reviewed,
                    ),
                )
        if visit.is_virtual:
            for k in range(1, practice.min_monitoring_minutes // practice.chaperone_checkin_minutes + 1):
                checked = dose_at + datetime.timedelta(minutes=k * practice.chaperone_checkin_minutes)
                self.add(
                    "checkins",
                    ChaperoneCheckin(
                        runbook=book,
                        checked_at=checked,
                        chaperone_present=True,
                        client_ok=True,
                        recorded_by=who,
                        recorded_at=checked,
                    ),
                )
        integration_at = dose_at + datetime.timedelta(minutes=practice.medicine_minutes)
        self.add(
            "phases",
            PhaseMark(
                runbook=book,
                phase="integration",
                started_at=integration_at,
                recorded_by=who,
                recorded_at=integration_at,
            ),
        )
        for text, minutes in zip(SESSION_NOTES[:2], (5, DOSE_AT + 100), strict=True):
            self.add(
                "notes",
                Note(runbook=book, written_at=at(minutes), text=text, author=who, recorded_at=at(minutes)),
            )

    def _vitals(self, book, phase, reading: rules.Reading, baseline, who) -> None:
        self.add(
            "vitals",
            VitalsReading(
                runbook=book,
                phase=phase,
                taken_at=reading.taken_at,
                systolic=reading.systolic,
                diastolic=reading.diastolic,
                heart_rate=reading.heart_rate,
                spo2=reading.spo2,
                alerts=rules.reading_alerts(reading, baseline=baseline, practice=self.practice),
                recorded_by=who,
                recorded_at=reading.taken_at,
            ),
        )

    def integration_records(self) -> None:
        by_client: dict[int, list] = {}
        for session, integration in self.integrations:
            held = integration if self.held(integration) else None
            recorded = held.ends_at if held else None
            if recorded is None or recorded > self.now:
                continue
            record = IntegrationRecord(
                client=session.client,
                follows=session,
                visit=held,
                clinician=held.clinician,
                themes="What the session opened: old grief, and some permission to rest.",
                emotions="Sadness, then relief and tenderness.",
                lasting_insight="Not everything has to be carried at once.",
                recorded_at=recorded,
            )
            self.add("records", record)
            items = [
                ActionItem(client=session.client, record=record, text=text, created_at=recorded)
                for text in self.rng.sample(ACTIONS, 2)
            ]
            for earlier in by_client.get(session.client.pk, [])[-2:]:
                if earlier.status == ActionItem.Status.OPEN:
                    earlier.status = (
                        ActionItem.Status.DONE if earlier.text < "N" else ActionItem.Status.LET_GO
                    )
                    earlier.reviewed_at = recorded
            by_client.setdefault(session.client.pk, []).extend(items)
            for item in items:
                self.add("actions", item)

    # --- Writing -----------------------------------------------------------------------------

    def write(self) -> dict[str, int]:
        written: dict[str, int] = {}

        def bulk(model, objs, size=2000):
            for start in range(0, len(objs), size):
                model.objects.bulk_create(objs[start : start + size])
            written[model._meta.verbose_name_plural] = written.get(model._meta.verbose_name_plural, 0) + len(
                objs
            )

        self.portal_accounts(bulk)
        Client.objects.bulk_update(self.client_rows, ["stage", "portal_user"], batch_size=1000)
        bulk(Visit, self.visits)
        self.reminders(bulk)
        for name, model in PATHWAY_ROWS:
            bulk(model, self.rows.get(name, []))
        bulk(Response, self.responses)
        bulk(MeasureTask, self.tasks)
        self.integration_records()
        bulk(IntegrationRecord, self.rows.get("records", []))
        bulk(ActionItem, self.rows.get("actions", []))
        self.notes(bulk)
        self.stock_lots()
        # Each esketamine client's first session: its REMS form says "first treatment".
        self.first_spravato: dict[int, datetime.datetime] = {}
        for visit, order in self.sessions:
            if order.route == INTRANASAL:
                first = self.first_spravato.get(visit.client_id)
                if first is None or visit.starts_at < first:
                    self.first_spravato[visit.client_id] = visit.starts_at
        # The runbooks, a slice of sessions at a time: half a million readings are not held in
        # memory at once.
        for start in range(0, len(self.sessions), 1000):
            for name, _model in RUNBOOK_ROWS:
                self.rows.pop(name, None)
            for visit, order in self.sessions[start : start + 1000]:
                self.runbook(visit, order)
            for name, model in RUNBOOK_ROWS:
                bulk(model, self.rows.get(name, []), 5000)
        self.ledger(bulk)
        self.inquiries(bulk)
        # Last, once the sessions' records are in: what the reviews and the discharges summarise.
        self.course_records(bulk)
        # And what every completed visit was charged, invoiced and paid (kapflow.demo.billing).
        written |= add_billing(
            clinicians=self.therapists + self.prescribers,
            coordinator=self.coordinators[0],
            admin=User.objects.filter(is_practice_admin=True, email__endswith=f"@{DOMAIN}").earliest("pk"),
            rng=self.rng,
            today=self.today,
        )
        # Last, the measure schedule's sweep at the moment the practice stands at, as the worker
        # runs it: the forms for the sessions and reviews booked ahead, a new weekly form where a
        # week has passed, with an audit row for each (kapflow.measures.schedule).
        written[MeasureTask._meta.verbose_name_plural] += schedule_measures(self.now)
        return written

    # --- The portal and its reminders (kapflow.portal, kapflow.reminders) -------------------

    def portal_accounts(self, bulk) -> None:
        """Each client invited to the portal (`_invite`), with the invitation as
        kapflow.portal.services writes it and, once accepted, the portal account it opened, with
        the demo password (any client of the group can be signed in as)."""
        accounts = {}
        for n, (_at, _by, accepted) in self.invited.items():
            if accepted is not None:
                client = self.client_rows[n]
                accounts[n] = User(
                    email=client.email,
                    full_name=f"{client.first_name} {client.last_name}",
                    password=self.password,
                    is_client=True,
                    date_joined=accepted,
                    last_login=accepted,
                )
        bulk(User, list(accounts.values()), 1000)
        lasts = datetime.timedelta(hours=self.practice.portal_invitation_hours)
        invitations = []
        for n, (at, by, accepted) in self.invited.items():
            client = self.client_rows[n]
            client.portal_user = accounts.get(n)
            invitations.append(
                demo_portal.invitation(
                    client,
                    by=by,
                    at=at,
                    lasts=lasts,
                    rng=self.portal_rng,
                    accepted=accepted,
                    account=client.portal_user,
                )
            )
        bulk(PortalInvitation, invitations)

    def reminders(self, bulk) -> None:
        """The appointment reminders and day-before instructions the worker's sweep sent to the
        clients' portal accounts (kapflow.reminders.sources), each created when the sweep would
        have found it: a visit's reminder once it is within the practice's reminder time, or
        once it is booked when that is later; the instructions from the practice's hour on the
        day before a medication session. Only for a visit still booked then, and an account
        open by then; sent a minute later. What falls due after now is the worker's to send."""
        ahead = datetime.timedelta(hours=self.practice.appointment_reminder_hours)
        rows = []

        def sent(visit, key, kind, due, at, until) -> None:
            user = visit.client.portal_user
            cancelled = visit.status == Visit.Status.CANCELLED and visit.status_changed_at <= at
            if at > self.now or at >= until or user.date_joined > at or cancelled:
                return
            went = at + datetime.timedelta(minutes=1)
            went = went if went <= self.now else None
            rows.append(
                Reminder(
                    key=key,
                    kind=kind,
                    recipient=user,
                    address=user.email,
                    client=visit.client,
                    due_at=due,
                    status=Reminder.Status.SENT if went else Reminder.Status.QUEUED,
                    attempts=1 if went else 0,
                    created_at=at,
                    last_attempt_at=went,
                    sent_at=went,
                )
            )

        for visit in self.visits:
            if visit.client.portal_user is None:
                continue
            due = visit.starts_at - ahead
            sent(
                visit,
                appointment_key(visit),
                Reminder.Kind.APPOINTMENT,
                due,
                max(visit.created_at, due),
                visit.starts_at,
            )
            if visit.kind == Visit.Kind.MEDICATION:
                day = timezone.localdate(visit.starts_at)
                opens = self.diary.at(
                    day - datetime.timedelta(days=1), self.practice.dayof_reminder_hour * 60
                )
                midnight = self.diary.at(day, 0)
                sent(
                    visit,
                    dayof_key(visit),
                    Reminder.Kind.DAYOF,
                    opens,
                    max(visit.created_at, opens),
                    midnight,
                )
        bulk(Reminder, rows, 5000)

    # --- The inquiries inbox (kapflow.inquiries) ---------------------------------------------

    def inquiries(self, bulk) -> None:
        """Most clients first wrote from the practice's page: their inquiry, received a few hours
        to two days before the coordinator made them a client, converted by that coordinator
        (the others were referred by telephone). Beside them, the inquiries that were not for
        the practice, declined with the reason, and the inbox as it stands: a few new ones
        from the last day and a half, and some contacted in the last week. With a generator of
        its own, so that the rest of the practice is built as before."""
        rng, now = random.Random(self.scale.seed + 17), self.now  # noqa: S311
        coordinators = self.coordinators
        inquiries = []

        def inquiry(n, *, received_at, status, **fields):
            if "first_name" not in fields:  # someone who did not become a client
                first, last = rng.choice(FIRST), rng.choice(LAST)
                fields |= {"first_name": first, "last_name": last}
                fields["email"] = f"{first.lower()}.{last.lower()}.q{n}@example.com"
                fields["phone"] = f"(818) 555-{(n * 37 + 4000) % 10000:04d}"
                fields["preferred_contact"] = rng.choice(ContactMethod.values)
            inquiries.append(
                Inquiry(
                    received_at=received_at,
                    status=status,
                    message=fields.pop("message", rng.choice(INQUIRY_MESSAGES)),
                    source=rng.choice(Inquiry.Source.values),
                    preferred_time=rng.choice(Inquiry.ContactTime.values),
                    **fields,
                )
            )

        for client in self.client_rows:
            if rng.random() < 0.3:
                continue  # referred by telephone
            inquiry(
                client.pk,
                received_at=client.created_at - datetime.timedelta(hours=rng.uniform(2, 48)),
                status=Inquiry.Status.CONVERTED,
                first_name=client.first_name,
                last_name=client.last_name,
                email=client.email,
                phone=client.phone,
                preferred_contact=client.preferred_contact,
                triage_note="Called back; booked the discovery call.",
                handled_by=client.created_by,
                client=client,
            )
        first_day = min(client.created_at for client in self.client_rows)
        span = (now - first_day).total_seconds()
        for n in range(len(self.client_rows) // 12):
            reason, message = rng.choice(INQUIRIES_DECLINED)
            inquiry(
                n,
                received_at=first_day + datetime.timedelta(seconds=rng.uniform(0, span - 7 * 86400)),
                status=Inquiry.Status.DECLINED,
                message=message,
                declined_reason=reason,
                handled_by=coordinators[n % len(coordinators)],
            )
        waiting = max(3, len(self.client_rows) // 400)
        for n in range(waiting):
            inquiry(
                10_000 + n,
                received_at=now - datetime.timedelta(hours=rng.uniform(1, 36)),
                status=Inquiry.Status.NEW,
            )
            inquiry(
                20_000 + n,
                received_at=now - datetime.timedelta(days=rng.uniform(2, 7)),
                status=Inquiry.Status.CONTACTED,
                triage_note="Left a voicemail with our number; will try again tomorrow morning.",
                handled_by=coordinators[n % len(coordinators)],
            )
        bulk(Inquiry, inquiries)

    # --- The stock ledger (kapflow.controlled) ------------------------------------------------

    def stock_lots(self) -> None:
        """A Spravato lot for each month with esketamine doses, received on the month's first
        day (written before the doses that name it)."""
        months = sorted(
            {
                _month(timezone.localdate(visit.starts_at + datetime.timedelta(minutes=DOSE_AT), self.tz))
                for visit, order in self.sessions
                if order.route == INTRANASAL
            }
        )
        keeper = self.prescribers[0]
        lots = [
            Lot(
                **quick_controlled.SPRAVATO,
                lot_number=f"SPR{month:%y%m}",
                expires_on=month + datetime.timedelta(days=730),
                created_by=keeper,
                created_at=self._received_at(month),
            )
            for month in months
        ]
        Lot.objects.bulk_create(lots)
        self.month_lots = dict(zip(months, lots, strict=True))

    def _received_at(self, month: datetime.date) -> datetime.datetime:
        return datetime.datetime.combine(month, datetime.time(7, 30), self.tz)

    def ledger(self, bulk) -> None:
        """The practice's DEA registration, an initial inventory of no stock the day before it
        opened (before the first receipt), and each lot's ledger: the month's receipt (whole kits,
        enough for the month's doses), then each dose from it in the order given, each entry with
        its place in the lot's sequence and the balance it left, never below zero."""
        if not self.month_lots:
            return
        registrant = self.prescribers[0]
        practice = self.practice
        practice.dea_registrant = registrant
        practice.dea_registration_number = quick_controlled.REGISTRATION_NUMBER
        practice.dea_registration_expires_on = self.today + datetime.timedelta(days=540)
        practice.save(
            update_fields=["dea_registrant", "dea_registration_number", "dea_registration_expires_on"]
        )
        # The day before the practice opened, at least two years before today (`clients`), so
        # that the biennial inventory has always fallen due, and been taken, by today. Dated the
        # day before the first month with a dose instead, it was not yet due on some days (loaded
        # on 26 January 2027, the first esketamine month was March 2025: due in February 2027).
        first = min(self.opened_on, min(self.month_lots)) - datetime.timedelta(days=1)
        self._inventory(
            bulk,
            Inventory.Kind.INITIAL,
            first,
            registrant,
            "No controlled substance on hand: the stock ledger starts here.",
        )
        doses: dict[int, list[Administration]] = {}
        for dose in self.stocked:
            doses.setdefault(dose.lot.pk, []).append(dose)
        entries = []
        kit = quick_controlled.SPRAVATO["container_quantity"]
        for month, lot in self.month_lots.items():
            given = sorted(doses.get(lot.pk, []), key=lambda d: (d.given_at, d.pk))
            devices = [dose.dose_mg / lot.strength_mg for dose in given]
            kits = math.ceil(sum(devices) / kit)
            balance = kits * kit
            entries.append(
                Entry(
                    lot=lot,
                    sequence=1,
                    kind=Entry.Kind.RECEIPT,
                    quantity=balance,
                    balance_after=balance,
                    occurred_at=self._received_at(month),
                    person=registrant,
                    containers=kits,
                    party_name=quick_controlled.SUPPLIER["supplier_name"],
                    party_address=quick_controlled.SUPPLIER["supplier_address"],
                    party_dea_number=quick_controlled.SUPPLIER["supplier_dea_number"],
                    document_reference=f"PCMD-INV-{month:%y%m}",
                    recorded_by=registrant,
                    recorded_at=self._received_at(month),
                )
            )
            for sequence, (dose, quantity) in enumerate(zip(given, devices, strict=True), 2):
                balance -= quantity
                entries.append(
                    Entry(
                        lot=lot,
                        sequence=sequence,
                        kind=Entry.Kind.ADMINISTRATION,
                        quantity=-quantity,
                        balance_after=balance,
                        occurred_at=dose.given_at,
                        person=dose.given_by,
                        administration=dose,
                        client_id=dose.runbook.visit.client_id,
                        recorded_by=dose.recorded_by,
                        recorded_at=dose.given_at,
                    )
                )
        bulk(Entry, entries, 5000)
        self._biennial_inventory(bulk, first, registrant, entries)

    def _inventory(self, bulk, kind: str, taken_on: datetime.date, registrant: User, note: str) -> Inventory:
        """An inventory the registrant took at the opening of business, recorded at 8:00."""
        inventory = Inventory(
            kind=kind,
            taken_on=taken_on,
            time_of_day=Inventory.TimeOfDay.OPENING,
            taken_by=registrant,
            note=note,
            recorded_by=registrant,
            recorded_at=datetime.datetime.combine(taken_on, datetime.time(8), self.tz),
        )
        bulk(Inventory, [inventory])
        return inventory

    def _biennial_inventory(self, bulk, initial_on: datetime.date, registrant: User, entries) -> None:
        """The biennial inventory (21 CFR 1304.11(c), docs/inventory.md): taken by the registrant
        at the opening of business on the last weekday three weeks before two years from the
        initial one, when that day has come. Every lot then holding stock is counted, unopened
        kits and what is left in opened ones, and matches the ledger's balance at that moment."""
        taken_on = clocks.next_inventory_due(initial_on) - BIENNIAL_AHEAD
        while taken_on.weekday() >= 5:
            taken_on -= datetime.timedelta(days=1)
        if taken_on >= self.today:
            return
        moment = datetime.datetime.combine(taken_on, datetime.time.min, self.tz)
        held: dict[int, tuple[Lot, Decimal]] = {}
        for entry in entries:  # each lot's entries in order: the last one by then holds
            if entry.occurred_at <= moment:
                held[entry.lot.pk] = (entry.lot, entry.balance_after)
        inventory = self._inventory(
            bulk,
            Inventory.Kind.BIENNIAL,
            taken_on,
            registrant,
            "Counted before the day's sessions, with the practice admin.",
        )
        counts = []
        for lot, balance in held.values():
            if balance <= 0:
                continue
            full = int(balance // lot.container_quantity)
            counts.append(
                InventoryCount(
                    inventory=inventory,
                    lot=lot,
                    full_containers=full,
                    open_quantity=balance - full * lot.container_quantity,
                    counted=balance,
                    expected=balance,
                    awaiting_disposal=lot.expires_on < taken_on,
                )
            )
        bulk(InventoryCount, counts)

    def notes(self, bulk) -> None:
        """The clients' intentions for most sessions held, said in the opening reflection, and a
        signed note for every clinical visit completed (kapflow.demo.notes), by its clinician in
        the practice's format, shortly after it ended."""
        rng, now, practice = self.records_rng, self.now, self.practice
        intentions = {}
        for session, _order in self.sessions:
            if rng.random() < 0.6:
                intentions[id(session)] = demo_notes.intention_for(session, rng=rng)
        follows = {id(integration): session for session, integration in self.integrations if integration}
        notes = []
        for visit in self.visits:
            if visit.kind not in NOTED_KINDS or visit.status != Visit.Status.COMPLETED:
                continue
            session = follows.get(id(visit))
            intention = intentions.get(id(session)) if session is not None else None
            notes.append(
                demo_notes.note_for(
                    visit,
                    format=practice.note_format,
                    rng=rng,
                    signed_at=demo_notes.signed_at_for(visit, rng, now),
                    preparation=self.prepared.get(id(visit)),
                    follows=session,
                    intention=intention.text if intention is not None else "",
                )
            )
        bulk(SessionIntention, list(intentions.values()))
        bulk(ProgressNote, notes)

    def course_records(self, bulk) -> None:
        """Each course's decided reviews, the maintenance plans they wrote and the discharges
        (kapflow.demo.course), with the facts drawn from the records just written."""
        rng, now, practice = self.records_rng, self.now, self.practice
        reviews, new_plans, superseded, discharges, maintained = [], [], [], [], []
        # Every client's action items, oldest first, for the discharge summaries: read at once.
        action_items: dict[int, list[ActionItem]] = {}
        for item in ActionItem.objects.order_by("created_at", "pk"):
            action_items.setdefault(item.client_id, []).append(item)
        for plan, doses, therapist, prescriber, outcome, review_visit in self.courses:
            story = demo_course.CourseStory(
                plan.client,
                plan,
                therapist,
                prescriber,
                [(visit.pk, visit.status, visit.ends_at) for visit in doses],
                outcome=outcome or "",
                final_at=review_visit.ends_at - REVIEW_WRITTEN_BEFORE_END if review_visit else None,
                final_visit=review_visit,
            )
            position = Position(plan, tuple((visit.pk, visit.status) for visit in doses))
            # Drawn only for a course that has a review to write (a few queries a client).
            reached = len(doses) >= min([*plan.review_points, plan.planned_sessions])
            facts = review_facts(plan.client, position) if outcome or reached else None
            written, plans = demo_course.reviews_for(
                story, rng, practice=practice, now=now, final_facts=facts
            )
            reviews += written
            for review, new in plans:
                plan.superseded_at = review.decided_at
                superseded.append(plan)
                new_plans.append((review, new))
                if id(plan) in self.maintained:
                    maintained.append((new, therapist, prescriber, *self.maintained[id(plan)]))
            if outcome == "end":
                discharges.append(
                    self._discharge(
                        story,
                        written[-1],
                        facts=demo_course.discharge_facts_from(
                            plan.client, facts, action_items.get(plan.client.pk, [])
                        ),
                    )
                )
        CoursePlan.objects.bulk_update(superseded, ["superseded_at"], batch_size=1000)
        bulk(CoursePlan, [new for _review, new in new_plans])
        for review, new in new_plans:
            review.new_plan = new
        # Then each maintenance plan's own reviews and, where a progress review ended maintenance,
        # the review that ended it and the discharge.
        for plan, therapist, prescriber, held, ended in maintained:
            story = demo_course.CourseStory(
                plan.client,
                plan,
                therapist,
                prescriber,
                [(visit.pk, visit.status, visit.ends_at) for visit in held],
                outcome="end" if ended else "",
                final_at=ended.ends_at - REVIEW_WRITTEN_BEFORE_END if ended else None,
                final_visit=ended,
            )
            reached = len(held) >= min([*plan.review_points, plan.planned_sessions])
            position = Position(plan, tuple((visit.pk, visit.status) for visit in held))
            facts = review_facts(plan.client, position) if ended or reached else None
            written, _plans = demo_course.reviews_for(
                story, rng, practice=practice, now=now, final_facts=facts
            )
            reviews += written
            if ended:
                discharges.append(
                    self._discharge(
                        story,
                        written[-1],
                        facts=demo_course.discharge_facts_from(
                            plan.client, facts, action_items.get(plan.client.pk, [])
                        ),
                    )
                )
        for plan, therapist, prescriber, at in self.withdrawn:
            story = demo_course.CourseStory(plan.client, plan, therapist, prescriber)
            discharges.append(self._discharge(story, None, facts=discharge_facts(plan.client), at=at))
        bulk(CourseReview, reviews)
        bulk(Discharge, discharges)
        CoursePlan.objects.bulk_update([d.plan for d in discharges], ["ended_at"], batch_size=1000)

    def _discharge(self, story, final: CourseReview | None, *, facts: dict, at=None) -> Discharge:
        """The signed discharge with the summary's `facts`, which ends the story's plan: at `at`,
        or an hour after the review that ended the plan (or now)."""
        discharge = demo_course.discharge_for(
            story,
            final,
            self.records_rng,
            facts=facts,
            at=at or demo_course.discharge_signed_at(final.decided_at, self.now),
            crisis_resources=self.practice.crisis_resources,
        )
        story.plan.ended_at = discharge.signed_at
        return discharge


PATHWAY_ROWS = [
    ("team", CareTeamMember),
    ("contacts", EmergencyContact),
    ("stage_changes", StageChange),
    ("consultations", Consultation),
    ("screenings", Screening),
    ("clearances", Clearance),
    ("orders", MedicationOrder),
    ("rems_enrolments", RemsEnrolment),
    ("signatures", Signature),
    ("plans", CoursePlan),
    ("preparations", PreparationSession),
]
# Written in this order: each after the rows it points at.
RUNBOOK_ROWS = [
    ("runbooks", Runbook),
    ("safety_plans", SafetyPlan),
    ("checklists", DayOfChecklist),
    ("vitals", VitalsReading),
    ("phases", PhaseMark),
    ("on_site", PrescriberOnSite),
    ("administrations", Administration),
    ("ratings", Rating),
    ("events", AdverseEvent),
    ("reviews", SafetyReview),
    ("checkins", ChaperoneCheckin),
    ("notes", Note),
    ("rems_reports", RemsReport),
]


SESSION_WEEKDAYS = (0, 1, 2, 3, 5)  # Monday to Thursday and Saturday morning
# When a new client's course would begin (from the intake: the call, the consultation, the
# evaluation and two preparation sessions come first), and for how many weeks a therapist needs
# room for it to take the client on.
COURSE_AFTER_DAYS = 17
COURSE_WEEKS = 3
INTEGRATION_DAYS = 2  # the integration session the day after the session, or the next
# How long after the last preparation session a client whose first session could not be booked
# is discharged as having withdrawn.
WITHDREW_AFTER = datetime.timedelta(days=21)
# A client turned away who missed the discovery call is told when they ring back.
RANG_BACK = datetime.timedelta(days=1)
# What people write from the practice's page, and what the practice declines and why.
INQUIRY_MESSAGES = [
    "Years of depression that medication has only dented. My therapist mentioned KAP.",
    "I have tried two antidepressants and a year of CBT. Is ketamine-assisted therapy an option?",
    "My psychiatrist suggested I look into ketamine with therapy. Do you take new clients?",
    "Anxiety and low mood most days since a bereavement. I would like to know more.",
    "A friend had sessions with you and found them helpful. What does a course involve?",
    "Could we talk about whether this is right for me? Evenings are best.",
]
INQUIRIES_DECLINED = [
    (
        "Asking for ketamine infusions for chronic pain; referred to a pain clinic.",
        "Do you do ketamine infusions for nerve pain?",
    ),
    (
        "Looking for couples counselling; gave the names of two couples therapists.",
        "My partner and I need help communicating.",
    ),
    (
        "Lives out of state, where our clinicians are not licensed; referred to a directory there.",
        "I live in Oregon; can I do the sessions by video?",
    ),
]
# The biennial inventory is taken this long before it falls due.
BIENNIAL_AHEAD = datetime.timedelta(days=21)
# A screening repeated in maintenance is decided by the prescriber the next day.
REDECIDED_AFTER = datetime.timedelta(days=1)
RECLEARED = "Repeat screening reviewed: nothing new since the evaluation; cleared to go on with maintenance."
# Why a clinician moved a client to Not proceeding by hand (StageChange.reason).
NO_ROOM = (
    "No therapist has room to begin a course in the coming weeks. Told the wait at the discovery "
    "call and given the names of two other practices; welcome to call again."
)
NOT_CLEARED = (
    "Not medically cleared: blood pressure persistently above range. Referred to primary care "
    "first; may be evaluated again once it is controlled."
)
# How long an order runs from the day it is written, and how far apart maintenance therapy is.
ORDER_DAYS = 150
FORTNIGHT = datetime.timedelta(days=14)


def _month(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_session_day(today: datetime.date) -> datetime.date:
    """The next day the practice holds medication sessions: tomorrow, unless tomorrow is a Friday
    (a Friday session's integration would fall outside the window) or a Sunday."""
    day = today + datetime.timedelta(days=1)
    while day.weekday() not in SESSION_WEEKDAYS:
        day += datetime.timedelta(days=1)
    return day


def group_practice_loaded() -> bool:
    return User.objects.filter(email=f"owner@{DOMAIN}").exists()


class NotAnEmptyPractice(Exception):
    """The group practice is built on an empty database only: its schedule knows nothing of
    visits already booked (the quick demo's, or a practice's own), and would book over them."""


@transaction.atomic
def load_group_practice(scale: Scale = GROUP) -> dict:
    """Build the group practice once (a second call adds nothing) and say what it holds: the
    rows written by table, the staff sign-ins, and the busiest clinician's week and day."""
    if group_practice_loaded():
        return {
            "first_time": False,
            "rows": {},
            "staff": list(User.objects.filter(email__endswith=f"@{DOMAIN}")),
        }
    if Visit.objects.exists() or Client.objects.exists():
        raise NotAnEmptyPractice(
            "The group practice loads into an empty database only: this one already has clients or "
            "visits (the quick demo's?), and the group's schedule would book over them. Point "
            "DATABASE_URL at a new database, or remove var/ and migrate again."
        )
    builder = Builder(scale)
    builder.staff()
    builder.clients()
    for n in range(scale.clients):
        builder.pathway(n)
    rows = {"clients": len(builder.client_rows), "staff": len(builder.therapists + builder.prescribers)}
    rows |= builder.write()
    return {
        "first_time": True,
        # The moment the practice stands at: what ended before it is settled, what begins after
        # it is booked ahead, and nothing is under way at it.
        "as_of": builder.now,
        "rows": rows,
        "staff": builder.therapists + builder.prescribers,
        "busiest": busiest_clinician(builder.diary),
    }


def busiest_clinician(diary: Diary) -> dict:
    """The clinician with the most visits in one week, and the most hours of visits in a day."""
    weeks: dict = {}
    for (kind, user_id, day), spans in diary.busy.items():
        if kind == "u":
            week = (user_id, day.isocalendar()[:2])
            weeks[week] = weeks.get(week, 0) + len(spans)
    (user_id, week), visits = max(weeks.items(), key=lambda item: item[1])
    hours = max(minutes for (uid, _day), minutes in diary.load.items()) / 60
    return {
        "user": User.objects.get(pk=user_id).full_name,
        "week": week,
        "visits_in_week": visits,
        "max_hours_in_a_day": hours,
    }
