"""The runbook record and what every write to it shares: the refusal, opening (and locking)
the record, saving an entry with its audit row, an entry's time on the day. Each entry is saved
the moment it is entered, in its own transaction with its audit row; none is saved on a signed
(locked) record or a cancelled visit. Every threshold comes from the practice's settings."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.dosing.models import Runbook
from kapflow.visits.models import Visit


class RunbookRefused(Exception):
    def __init__(self, *problems: str):
        super().__init__(" ".join(problems))
        self.problems = list(problems)


class SpO2Required(RunbookRefused):
    """A reading without SpO2 in a session whose route needs it with every reading: the form
    says so beside the SpO2 field."""


CLOSED_VISIT = (Visit.Status.CANCELLED, Visit.Status.NO_SHOW)


def _open_runbook(visit: Visit, *, with_client: bool = False) -> Runbook:
    """The visit's runbook, locked for this transaction and created on the first entry;
    refused when the record is signed or the visit did not take place. `with_client`: the entry
    is given to or measured on the client there and then (a dose, vitals, a rating, a chaperone
    check-in, a phase), so it is refused once the client has been discharged."""
    # The status as it is now (the caller's copy may be older than a start or a check-in).
    visit.refresh_from_db(fields=["status", "status_changed_at"])
    if visit.kind != Visit.Kind.MEDICATION:
        raise RunbookRefused("Only a medication session has a runbook.")
    if visit.status in CLOSED_VISIT:
        raise RunbookRefused(f"This visit was {visit.get_status_display().lower()}: nothing can be recorded.")
    Runbook.objects.get_or_create(visit=visit)
    runbook = Runbook.objects.select_for_update(no_key=True).get(visit=visit)
    if runbook.is_locked:
        raise RunbookRefused("The session record is signed and locked: add an addendum instead.")
    if with_client and runbook.discharged_at is not None:
        raise RunbookRefused(
            f"The client was discharged at {timezone.localtime(runbook.discharged_at):%H:%M}: "
            "nothing more is given or measured in this session. Add a note instead."
        )
    return runbook


def _saved(obj):
    try:
        obj.full_clean()
    except ValidationError as error:
        raise RunbookRefused(
            *[
                f"{name.replace('_', ' ').capitalize()}: {' '.join(errors)}"
                for name, errors in error.message_dict.items()
            ]
        ) from None
    obj.save()
    return obj


def _sent_before(entries, entry_key):
    """The entry a form sent again saved the first time it came (None if it is new): a form's
    entry is saved once however often it is sent (kapflow.lib.forms.SentOnce). Call it with the runbook
    locked, so that a second sending waits for the first."""
    return entries.filter(entry_key=entry_key).first() if entry_key is not None else None


def _audit(*, request, actor, action: str, visit: Visit, obj, detail: dict | None = None) -> None:
    audit_record(request=request, actor=actor, action=action, client=visit.client, obj=obj, detail=detail)


def _on_the_day(moment: datetime.datetime, visit: Visit) -> None:
    """An entry's time: not in the future, and not long before the session: no earlier than its
    own length before the booked start (a client may arrive early; a time typed a little ahead
    of the clock reads as yesterday, which this refuses rather than backdate the entry)."""
    if moment > timezone.now() + datetime.timedelta(minutes=1):
        raise RunbookRefused("That time is in the future.")
    if moment < visit.starts_at - (visit.ends_at - visit.starts_at):
        booked = timezone.localtime(visit.starts_at)
        raise RunbookRefused(
            f"That time is long before this session (booked for {booked:%b} {booked.day}, "
            f"{booked:%H:%M}): check the time."
        )


class _Actor:
    """What visit_transition's audit row needs from a request, for a service called without one
    (tests, the demo): the acting user."""

    def __init__(self, request, actor):
        self._request = request
        self.user = actor

    def __getattr__(self, name):
        if self._request is None:
            raise AttributeError(name)
        return getattr(self._request, name)
