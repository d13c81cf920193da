"""The intention thread (docs/intentions.md): what the client hopes for from each medication
session, read by the runbook's opening phase, the integration record and the integration note.

An intention is entered by the client on the portal before the session begins, by the
therapist or prescriber in the opening reflection while it runs, or by them before the day. It
is never edited: a newer entry supersedes the older, which is kept, and the latest is the
intention (`latest_intention`). Nothing is entered once the session's record is signed or the
visit is over, cancelled or missed."""

import dataclasses
import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, CharField, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, clients_for
from kapflow.dosing.models import Runbook
from kapflow.notes.models import SessionIntention
from kapflow.pathway.models import PreparationSession
from kapflow.visits.models import Visit

# Long enough for a few sentences in the client's own words; an intention is a hope for one
# session, not a journal entry (docs/intentions.md).
MAX_LENGTH = 1000
# How many preparation sessions' intentions the runbook's opening phase shows, latest first.
PREPARATION_SHOWN = 3

Source = SessionIntention.Source
# Where each source may enter an intention: the client until the session begins, the clinician
# before the day, the opening reflection while the session runs.
OPEN_FOR = {
    Source.PORTAL: (Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN),
    Source.CLINICIAN: (Visit.Status.SCHEDULED,),
    Source.OPENING: (Visit.Status.CHECKED_IN, Visit.Status.IN_PROGRESS),
}
ENTERED_ACTION = "kapflow.notes.intention.entered"


# Reads -------------------------------------------------------------------------------------------


def latest_intention(visit) -> SessionIntention | None:
    """The intention in force for a medication visit: the latest entered (older ones are kept)."""
    if visit is None:
        return None
    return SessionIntention.objects.filter(visit=visit).select_related("entered_by").first()


def intentions_for(visits) -> dict[int, SessionIntention]:
    """The intention in force for each of `visits` (by visit pk; a visit without one is left
    out), in one query whatever their number."""
    ids = [visit.pk for visit in visits if visit is not None]
    found: dict[int, SessionIntention] = {}
    if not ids:
        return found
    for intention in SessionIntention.objects.filter(visit_id__in=ids).select_related("entered_by"):
        found.setdefault(intention.visit_id, intention)  # newest first (Meta.ordering)
    return found


@dataclasses.dataclass(frozen=True)
class IntentionShown:
    """The intention in force as a page shows it, read as columns of the visit's own query
    (`intention_columns`): no query of its own."""

    text: str
    source: str
    entered_at: datetime.datetime
    entered_by: str  # the name as the pages show it (User.display_name)

    @property
    def where(self) -> str:
        return {
            Source.PORTAL: "on the portal",
            Source.OPENING: "in the opening reflection",
            Source.CLINICIAN: "before the day",
        }.get(self.source, "")


def intention_columns() -> dict:
    """Annotations for a queryset of visits: the intention in force's text, source, time and who
    entered it (as User.display_name), each the latest row of the visit's intentions (the
    index on visit and time). The runbook reads them with its visit, in the query it makes
    anyway (kapflow.dosing.selectors.runbook_visits), so that showing the intention costs the
    page no query."""
    latest = SessionIntention.objects.filter(visit=OuterRef("pk")).order_by("-entered_at", "-pk")
    name = Case(
        When(entered_by__credentials="", then=F("entered_by__full_name")),
        default=Concat(F("entered_by__full_name"), Value(", "), F("entered_by__credentials")),
        output_field=CharField(),
    )
    return {
        "intention_text": Subquery(latest.values("text")[:1]),
        "intention_source": Subquery(latest.values("source")[:1]),
        "intention_at": Subquery(latest.values("entered_at")[:1]),
        "intention_by": Subquery(latest.annotate(by=name).values("by")[:1]),
    }


def intention_shown(visit) -> IntentionShown | None:
    """The intention read with `visit` by `intention_columns`, or None when it has none."""
    text = getattr(visit, "intention_text", None)
    if not text:
        return None
    return IntentionShown(
        text=text,
        source=visit.intention_source,
        entered_at=visit.intention_at,
        entered_by=visit.intention_by or "",
    )


def preparation_intentions(client, *, on_or_before: datetime.date | None = None) -> list[PreparationSession]:
    """The intentions set in the client's latest preparation sessions (those that recorded
    any), latest first, held on or before `on_or_before` (the session's day): one query, with
    only the columns shown."""
    sessions = PreparationSession.objects.filter(client=client).exclude(intentions="")
    if on_or_before is not None:
        sessions = sessions.filter(held_on__lte=on_or_before)
    return list(
        sessions.select_related("clinician")
        .only("held_on", "intentions", "client_id", "clinician__full_name", "clinician__credentials")
        .order_by("-held_on", "-pk")[:PREPARATION_SHOWN]
    )


def open_for(visit: Visit, source: str) -> bool:
    """Whether `source` may still enter an intention for `visit`, by its status (the service
    also checks the record is not signed)."""
    return visit.kind == Visit.Kind.MEDICATION and visit.status in OPEN_FOR.get(source, ())


def staff_source(visit: Visit) -> str:
    """How a clinician's entry counts: before the day while the visit is only scheduled, in the
    opening reflection once the client is checked in."""
    return Source.CLINICIAN if visit.status == Visit.Status.SCHEDULED else Source.OPENING


# Writes ------------------------------------------------------------------------------------------


def _clean_text(text) -> str:
    text = (text if isinstance(text, str) else "").strip()
    if not text:
        raise ValidationError("Write the intention before saving it.")
    if len(text) > MAX_LENGTH:
        raise ValidationError(
            f"Keep the intention under {MAX_LENGTH} characters (it has {len(text)}): a few sentences "
            "are enough."
        )
    if "\x00" in text:
        raise ValidationError("The intention holds a character that cannot be saved.")
    return text


def _check_author(request, visit: Visit, source: str) -> None:
    """Who may enter for `source`: the client themself on the portal (a guardian holds no
    clinical content: docs/access.md); a therapist or prescriber of the practice in the
    client's clinical care otherwise."""
    user = request.user
    if source == Source.PORTAL:
        if not (user.is_authenticated and user.is_client and visit.client.portal_user_id == user.pk):
            raise ValidationError("Only the client enters their intention on the portal.")
        return
    if not (user.is_authenticated and user.is_clinician) or user.outside_practice:
        raise ValidationError("Only the client's therapist or prescriber records their intention.")
    if not clients_for(request, need=Need.CLINICAL).filter(pk=visit.client_id).exists():
        raise ValidationError("Only the client's therapist or prescriber records their intention.")


def _check_open(visit: Visit, source: str) -> None:
    if visit.kind != Visit.Kind.MEDICATION:
        raise ValidationError("Only a medication session has an intention.")
    if visit.status in (Visit.Status.CANCELLED, Visit.Status.NO_SHOW, Visit.Status.COMPLETED):
        raise ValidationError(
            f"This session was {visit.get_status_display().lower()}: its intention can no longer be changed."
        )
    if source == Source.PORTAL and visit.ends_at <= timezone.now():
        # Still "scheduled" after its end (nobody checked the client in): over all the same.
        raise ValidationError("This session is over: its intention can no longer be changed here.")
    if not open_for(visit, source):
        raise ValidationError(
            {
                Source.PORTAL: "Your session has begun: share your intention with your therapist in "
                "the opening reflection.",
                Source.CLINICIAN: "The session is under way: record the intention in the opening reflection.",
                Source.OPENING: "The opening reflection is on the day: check the client in first.",
            }.get(source, "This is not a way an intention is entered.")
        )


@transaction.atomic
def intention_enter(*, request, visit: Visit, text: str, source: str) -> SessionIntention:
    """Enter the client's intention for a medication session; the latest supersedes any earlier
    one, which is kept. `source`: the client on the portal, the clinician in the opening
    reflection, or the clinician before the day (each with its own window: OPEN_FOR). Refused
    once the session's record is signed, or the visit is completed, cancelled or missed. The
    same text as the intention in force, entered again (a form sent twice), is not saved again.
    Audited with the source and the length, never the text."""
    if source not in Source.values:
        raise ValidationError("This is not a way an intention is entered.")
    text = _clean_text(text)
    # The record locked, as every write to the runbook locks it (kapflow.dosing.services.runbook),
    # so that signing and an intention entered at the same moment do not cross; then the visit's
    # status as it is now.
    runbook = Runbook.objects.select_for_update(no_key=True).filter(visit_id=visit.pk).first()
    visit = Visit.objects.select_related("client").get(pk=visit.pk)
    _check_author(request, visit, source)
    if runbook is not None and runbook.is_locked:
        raise ValidationError(
            "The session record is signed and locked: its intention can no longer be changed."
        )
    _check_open(visit, source)
    previous = SessionIntention.objects.filter(visit=visit).first()
    if previous is not None and previous.text == text and previous.source == source:
        return previous
    intention = SessionIntention(
        visit=visit, client=visit.client, text=text, source=source, entered_by=request.user
    )
    intention.full_clean()
    intention.save()
    audit_record(
        request=request,
        action=ENTERED_ACTION,
        client=visit.client,
        obj=intention,
        detail={
            "visit": visit.pk,
            "source": source,
            "supersedes": previous.pk if previous is not None else None,
            "characters": len(text),
        },
    )
    return intention
