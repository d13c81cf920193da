"""The demo practice's money (docs/billing.md, docs/demo.md "Billing"), for the quick practice and
the group practice alike: a fee schedule with a raise two months ago, the practice's and its
clinicians' identifiers, a diagnosis from each consultation, a charge at the fee of its day for
every completed visit, an invoice for each, and the payments, a refund and a write-off that leave
some invoices paid and some owed, of every age.

Written in bulk (the group practice has tens of thousands of visits), by the product's own rules:
the lines in force come from kapflow.billing.fees, a charge only for a completed visit and at
most once per code, no payment or write-off above what is owed, no refund above what is left of
its payment, nothing dated after today. tests/demo_rules.py checks all of it."""

import datetime
import random
from collections import defaultdict
from decimal import Decimal

from django.db.models import F, Max
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.billing import estimates
from kapflow.billing import fees as fee_schedule
from kapflow.billing.diagnoses import CATALOGUE
from kapflow.billing.models import Charge, Diagnosis, Entry, Estimate, Fee, Invoice, InvoiceLine
from kapflow.clients.models import Client
from kapflow.lib.identifiers import NPI_PREFIX, luhn_valid
from kapflow.pathway.models import Consultation, CoursePlan
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit

# (visit kind, at least minutes, code, units, words on the invoice, fee, payer decides)
FEES = [
    ("discovery_call", 0, "", 1, "Discovery call (free)", "0.00", False),
    ("consultation", 0, "90791", 1, "Consultation: psychiatric diagnostic evaluation", "250.00", False),
    ("medical_evaluation", 0, "99204", 1, "Medical evaluation with the prescriber", "375.00", False),
    ("preparation", 0, "90837", 1, "Preparation session, 60 minutes", "200.00", False),
    (
        "medication",
        0,
        "0820T",
        2,
        "Medication session: continuous monitoring and psychotherapy, 2 hours",
        "600.00",
        True,
    ),
    ("integration", 0, "90837", 1, "Integration session, 60 minutes", "200.00", False),
    ("therapy", 0, "90834", 1, "Therapy session, 45 minutes", "175.00", False),
    ("therapy", 53, "90837", 1, "Therapy session, 60 minutes", "200.00", False),
    ("progress_review", 0, "90834", 1, "Progress review", "175.00", False),
]
# Two months ago the integration hour went up: invoices before it keep $200.
RAISE = ("integration", 0, "90837", "220.00")
RAISED_DAYS_AGO = 60

PRACTICE_TAX_ID = "95-4827310"
PRACTICE_TAXONOMY = "261QM0801X"

# Clinicians' licences and taxonomy, by their credentials (the demo's made-up numbers).
LICENCES = {
    "LCSW": ("LCSW", "1041C0700X"),
    "PsyD": ("PSY", "103TC0700X"),
    "PhD": ("PSY", "103TC0700X"),
    "LMFT": ("LMFT", "106H00000X"),
    "MD": ("MD", "2084P0800X"),
    "PMHNP": ("NP", "363LP0808X"),
}

# A diagnosis made at each consultation: ICD-10-CM codes a KAP practice sees, with the
# catalogue's words (kapflow.billing.diagnoses).
DIAGNOSES = [(code, CATALOGUE[code]) for code in ("F33.1", "F43.12", "F33.2", "F41.1", "F32.1")]

# How an invoice was paid, and how often (of those paid).
METHODS = [
    (Entry.Method.CARD, 60),
    (Entry.Method.HSA_FSA, 25),
    (Entry.Method.CASH, 5),
    (Entry.Method.CHEQUE, 5),
    (Entry.Method.BANK, 5),
]


def npi(serial: int, *, organisation: bool = False) -> str:
    """A made-up NPI with a valid check digit: 1 or 2 and eight digits, then the Luhn digit over
    the 80840 prefix (kapflow.lib.identifiers.npi_problem)."""
    nine = f"{2 if organisation else 1}{serial % 10**8:08d}"
    return next(nine + str(d) for d in range(10) if luhn_valid(NPI_PREFIX + nine + str(d)))


def identify(practice: Practice, clinicians: list[User]) -> None:
    """The practice's tax ID, type-2 NPI and taxonomy; each clinician's NPI, taxonomy and licence."""
    if not practice.tax_id:
        practice.tax_id = PRACTICE_TAX_ID
        practice.npi = npi(48273105, organisation=True)
        practice.taxonomy_code = PRACTICE_TAXONOMY
        practice.save(update_fields=["tax_id", "npi", "taxonomy_code", "updated_at"])
    for n, clinician in enumerate(clinicians):
        if clinician.npi:
            continue
        licence, taxonomy = LICENCES.get(clinician.credentials, ("LCSW", "1041C0700X"))
        clinician.npi = npi(53000000 + 1117 * (clinician.pk or n))
        clinician.taxonomy_code = taxonomy
        clinician.license_type = licence
        clinician.license_number = f"{licence[:1]}{40000 + (clinician.pk or n) * 37:06d}"
        clinician.license_state = "CA"
    User.objects.bulk_update(
        clinicians, ["npi", "taxonomy_code", "license_type", "license_number", "license_state"]
    )


def fee_schedule_set(admin: User, since: datetime.date, today: datetime.date) -> list[Fee]:
    """The schedule from `since` (before the practice's first visit), and the raise two months
    ago. Once: a second load keeps the schedule as it is."""
    if not Fee.objects.exists():
        created = timezone.make_aware(datetime.datetime.combine(since, datetime.time(9)))
        rows = [
            Fee(
                kind=kind,
                minutes_from=minutes,
                code=code,
                units=units,
                description=words,
                amount=Decimal(amount),
                payer_dependent=payer,
                effective_from=since,
                created_at=created,
                created_by=admin,
            )
            for kind, minutes, code, units, words, amount, payer in FEES
        ]
        raised_on = today - datetime.timedelta(days=RAISED_DAYS_AGO)
        if raised_on > since:
            kind, minutes, code, amount = RAISE
            [base] = [fee for fee in rows if fee.line == (kind, minutes, code)]
            rows.append(
                Fee(
                    kind=kind,
                    minutes_from=minutes,
                    code=code,
                    units=base.units,
                    description=base.description,
                    amount=Decimal(amount),
                    effective_from=raised_on,
                    created_at=created + datetime.timedelta(days=(raised_on - since).days - 14),
                    created_by=admin,
                )
            )
        Fee.objects.bulk_create(rows)
    return list(Fee.objects.all())


def diagnose() -> int:
    """A diagnosis recorded by the clinician of each client's first consultation that went on to
    screening, on its day, for clients without one."""
    diagnosed = set(Diagnosis.objects.values_list("client_id", flat=True))
    consultations = Consultation.objects.filter(decision=Consultation.Decision.PROCEED).order_by(
        "held_on", "pk"
    )
    rows, seen = [], set()
    for client_id, clinician_id, held_on, recorded_at in consultations.values_list(
        "client_id", "clinician_id", "held_on", "recorded_at"
    ):
        if client_id in diagnosed or client_id in seen:
            continue
        seen.add(client_id)
        code, words = DIAGNOSES[client_id % len(DIAGNOSES)]
        rows.append(
            Diagnosis(
                client_id=client_id,
                code=code,
                description=words,
                diagnosed_on=held_on,
                diagnosed_by_id=clinician_id,
                created_at=recorded_at,
            )
        )
    Diagnosis.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


class Books:
    """The charges, invoices, lines and entries for a set of completed visits, built in memory and
    written in bulk, in order of the day of service."""

    def __init__(self, *, practice: Practice, fees: list[Fee], coordinator: User, admin: User, rng, today):
        self.practice, self.fees = practice, fees
        self.coordinator, self.admin = coordinator, admin
        self.rng, self.today = rng, today
        self.written: dict[str, int] = defaultdict(int)

    def bill(self, visits: list[Visit], *, size: int = 2000) -> dict[str, int]:
        charged = set(Charge.objects.values_list("visit_id", flat=True).distinct())
        visits = sorted(
            (v for v in visits if v.status == Visit.Status.COMPLETED and v.pk not in charged),
            key=lambda v: (v.starts_at, v.pk),
        )
        number = (Invoice.objects.aggregate(last=Max("number"))["last"] or 0) + 1
        for start in range(0, len(visits), size):
            number = self._write(visits[start : start + size], number)
        return dict(self.written)

    def _charges(self, visit: Visit) -> list[Charge]:
        day = timezone.localdate(visit.starts_at)
        lines = fee_schedule.billable(fee_schedule.lines_for(visit.kind, visit.minutes, day, fees=self.fees))
        virtual = visit.modality == Visit.Modality.VIRTUAL
        modifier = self.practice.virtual_modifier
        office = self.practice.place_of_service_in_person
        virtual_place = self.practice.place_of_service_virtual
        return [
            Charge(
                client_id=visit.client_id,
                visit=visit,
                fee=fee,
                service_date=day,
                clinician_id=visit.clinician_id,
                code=fee.code,
                modifiers=" ".join([*fee.modifiers.split(), *([modifier] if virtual else [])]),
                units=fee.units,
                description=fee.description,
                amount=fee.amount,
                place_of_service=virtual_place if virtual else office,
                created_at=visit.ends_at,
                created_by_id=visit.clinician_id,
            )
            for fee in lines
        ]

    def _write(self, visits: list[Visit], number: int) -> int:
        by_visit = [(visit, self._charges(visit)) for visit in visits]
        by_visit = [(visit, charges) for visit, charges in by_visit if charges]
        charges = Charge.objects.bulk_create([c for _v, cs in by_visit for c in cs])
        invoices = []
        for visit, cs in by_visit:
            day = cs[0].service_date
            invoices.append(
                Invoice(
                    client_id=visit.client_id,
                    number=number,
                    issued_on=day,
                    due_on=day + datetime.timedelta(days=self.practice.payment_due_days),
                    created_at=visit.ends_at,
                    created_by_id=visit.clinician_id,
                )
            )
            number += 1
        invoices = Invoice.objects.bulk_create(invoices)
        lines, entries = [], []
        for invoice, (_visit, cs) in zip(invoices, by_visit, strict=True):
            lines += [InvoiceLine(invoice=invoice, charge=charge) for charge in cs]
            entries += self._settle(invoice, sum(c.amount for c in cs))
        InvoiceLine.objects.bulk_create(lines)
        payments = Entry.objects.bulk_create([e for e in entries if e.kind == Entry.Kind.PAYMENT])
        # Then what followed them, in order: a refund names its payment, saved above (bulk_create
        # takes the payment's new key), and the write-off came after the refund.
        refunds = Entry.objects.bulk_create([e for e in entries if e.kind != Entry.Kind.PAYMENT])
        self.written["charges"] += len(charges)
        self.written["invoices"] += len(invoices)
        self.written["payments, refunds and write-offs"] += len(payments) + len(refunds)
        return number

    def _at(self, day: datetime.date, hour: int = 17) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))

    def _settle(self, invoice: Invoice, total: Decimal) -> list[Entry]:
        """What was paid on an invoice, by the age of the invoice: nearly every invoice a month
        old is paid (mostly on the day), a few were paid late, part paid or written off, one
        payment was refunded in part; of the last fortnight's, some are still owed."""
        rng, today = self.rng, self.today
        age = (today - invoice.issued_on).days
        roll = rng.random()
        entries: list[Entry] = []

        def pay(amount: Decimal, on: datetime.date) -> Entry:
            method = rng.choices([m for m, _w in METHODS], weights=[w for _m, w in METHODS])[0]
            entry = Entry(
                invoice=invoice,
                client_id=invoice.client_id,
                kind=Entry.Kind.PAYMENT,
                amount=amount,
                method=method,
                reference=f"R{invoice.number:06d}" if method != Entry.Method.CASH else "",
                received_on=min(on, today),
                created_at=self._at(min(on, today)),
                created_by=self.coordinator,
            )
            entries.append(entry)
            return entry

        if age < 14 and roll < 0.35:
            return entries  # owed: billed in the last fortnight
        if 30 < age < 120 and roll < 0.03:
            # Part paid, the rest overdue: the aging columns' older rows.
            pay((total / 2).quantize(Decimal("0.01")), invoice.issued_on)
            return entries
        if roll < 0.85:
            payment = pay(total, invoice.issued_on)
        else:
            late = rng.randint(3, min(40, max(3, age)))
            payment = pay(total, invoice.issued_on + datetime.timedelta(days=late))
        if age > 45 and rng.random() < 0.01:
            # Charged twice at the terminal, the second taken back: recorded as paid, then refunded.
            refund_on = min(payment.received_on + datetime.timedelta(days=2), today)
            entries.append(
                Entry(
                    invoice=invoice,
                    client_id=invoice.client_id,
                    kind=Entry.Kind.REFUND,
                    amount=(total / 4).quantize(Decimal("0.01")),
                    method=payment.method,
                    received_on=refund_on,
                    reason="The card was charged for more than the session: the difference went back "
                    "to the card.",
                    refund_of=payment,
                    created_at=self._at(refund_on),
                    created_by=self.admin,
                )
            )
            # The refunded part is owed again, and was then written off by the owner.
            entries.append(
                Entry(
                    invoice=invoice,
                    client_id=invoice.client_id,
                    kind=Entry.Kind.WRITE_OFF,
                    amount=(total / 4).quantize(Decimal("0.01")),
                    received_on=refund_on,
                    reason="Reduced fee agreed with the owner after a hard month.",
                    created_at=self._at(refund_on, 18),
                    created_by=self.admin,
                )
            )
        return entries


def give_estimates(coordinator: User, today: datetime.date) -> int:
    """A Good Faith Estimate for every version of every self-pay client's course plan, given the
    day the version was written (the first before the course's first medication session, as the
    law has it), each superseding the last; and a renewal where one ran out while its plan was
    still in force. Priced and worded by kapflow.billing.estimates, as the product gives them."""
    if Estimate.objects.exists():
        return 0
    # A demo plan in force was written once and not edited since, as its estimate says: saving it
    # stamped the moment the demo loaded as its last change (updated_at), which would make every
    # plan look changed after its estimate (kapflow.billing.estimates.estimates_due).
    CoursePlan.objects.filter(superseded_at__isnull=True, updated_at__gt=F("created_at")).update(
        updated_at=F("created_at")
    )
    practice = Practice.load()
    sessions = defaultdict(list)
    for client_id, starts_at in (
        Visit.objects.filter(kind=Visit.Kind.MEDICATION)
        .order_by("starts_at")
        .values_list("client_id", "starts_at")
    ):
        sessions[client_id].append(starts_at)
    given = []
    plans = CoursePlan.objects.filter(
        client__in=Client.objects.filter(estimates.self_pay_q())
    ).select_related("client")
    by_client = defaultdict(list)
    for plan in plans.order_by("created_at", "pk"):
        by_client[plan.client_id].append(plan)
    for versions in by_client.values():
        client, held = versions[0].client, None
        for n, plan in enumerate(versions):
            until = versions[n + 1].created_at if n + 1 < len(versions) else None
            moments = [
                (plan.created_at, Estimate.Reason.PLAN if held is None else Estimate.Reason.PLAN_CHANGED)
            ]
            while True:
                on = timezone.localdate(moments[-1][0])
                if held is not None and estimates.is_current_for(held, plan, on):
                    moments.pop()  # the change left what the estimate says as it was
                    break
                held = _estimate(client, plan, practice, moments[-1], held, coordinator, sessions[client.pk])
                given.append(held)
                # Renewed the day after it runs out, while the plan is in force.
                renew_on = held.valid_until + datetime.timedelta(days=1)
                renew_at = timezone.make_aware(datetime.datetime.combine(renew_on, datetime.time(9)))
                if renew_on > today or (until is not None and renew_at >= until) or plan.ended_at:
                    break
                moments.append((renew_at, Estimate.Reason.RENEWED))
    return len(given)


def _estimate(client, plan, practice, moment, held, coordinator, sessions) -> Estimate:
    at, reason = moment
    on = timezone.localdate(at)
    covers_from = estimates.covers_from_for(held, plan, on, practice.estimate_months)
    valid_until = estimates.valid_until_for(covers_from, practice.estimate_months)
    priced = estimates.estimate_lines(
        plan, practice, on, covers_from=covers_from, received=estimates.received_before(client, covers_from)
    )
    content = estimates.build_content(
        client=client,
        plan=plan,
        practice=practice,
        priced=priced,
        issued_on=on,
        covers_from=covers_from,
        valid_until=valid_until,
    )
    # The first medication session after it was given, as it stood that day (build_content reads
    # the next one from now).
    following = [starts_at for starts_at in sessions if starts_at > at]
    content["first_session"] = timezone.localdate(following[0]).isoformat() if following else ""
    if held is not None:
        held.superseded_at = at
        held.save(update_fields=["superseded_at"])
    return Estimate.objects.create(
        client=client,
        plan=plan,
        reason=reason,
        issued_at=at,
        issued_by=coordinator,
        covers_from=covers_from,
        valid_until=valid_until,
        total=priced.total,
        content=content,
    )


def add_billing(
    *, clinicians, coordinator, admin, rng: random.Random, today: datetime.date
) -> dict[str, int]:
    """The money of whichever practice is loaded: identifiers, the fee schedule, a diagnosis from
    each consultation, and the books of every completed visit not yet charged."""
    practice = Practice.load()
    identify(practice, clinicians)
    first = Visit.objects.order_by("starts_at").values_list("starts_at", flat=True).first()
    since = min(timezone.localdate(first), today) - datetime.timedelta(days=30) if first else today
    fees = fee_schedule_set(admin, since, today)
    completed = list(
        Visit.objects.filter(status=Visit.Status.COMPLETED).only(
            "pk", "client_id", "clinician_id", "kind", "starts_at", "ends_at", "modality", "status"
        )
    )
    written = {"diagnoses": diagnose()}
    books = Books(practice=practice, fees=fees, coordinator=coordinator, admin=admin, rng=rng, today=today)
    written |= books.bill(completed)
    written["Good Faith Estimates"] = give_estimates(coordinator, today)
    return written
