"""The fee schedule pages in the access matrix (tests/test_access_matrix.py): the coordinators
and the practice admin read the schedule; only the admin adds, changes or withdraws a line
(docs/access.md, "Billing"). A clinician, a client, a guardian and an invited outside prescriber
get 403; a visitor is sent to sign in.

Also the builder the screenshot walk (tests/browser/walk.py) can open a line's pages with."""

from decimal import Decimal

from django.utils import timezone

from kapflow.billing.models import Fee
from kapflow.visits.models import Visit
from tests.access_rules import FORBIDDEN, LOGIN, OK


def fee_reader(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "cora") else FORBIDDEN


def fee_writer(role, target):
    if role == "anon":
        return LOGIN
    return OK if role == "ada" else FORBIDDEN


def _line(w, c):
    return {"fee_id": w["fee_line"].pk}


MATRIX = {
    "fees:schedule": ("get", fee_reader, None),
    "fees:line": ("get", fee_reader, _line),
    "fees:new": ("get", fee_writer, None),
    "fees:change": ("get", fee_writer, _line),
    "fees:withdraw": ("get", fee_writer, _line),
}


def therapy_line(who, *, amount="180.00", code="90837", minutes_from=53, effective_from=None) -> Fee:
    return Fee.objects.create(
        kind=Visit.Kind.THERAPY,
        minutes_from=minutes_from,
        code=code,
        description="Psychotherapy, 60 minutes",
        amount=Decimal(amount),
        effective_from=effective_from or timezone.localdate(),
        created_by=who,
    )


def build(world):
    world["fee_line"] = therapy_line(world["ada"])


# The screenshot walk: a line of the demo practice's schedule, or one made for the walk.
def walk_fee(d) -> dict:
    fee = Fee.objects.order_by("pk").first()
    if fee is None:
        fee = therapy_line(d.user("admin"))
    return {"fee_id": fee.pk}
