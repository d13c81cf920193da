"""Signing the record, which locks it, and the addenda written after."""

from django.db import transaction
from django.utils import timezone

from kapflow.clients.services import access_grants_end
from kapflow.dosing import alerts, rems
from kapflow.dosing.models import Addendum, Runbook
from kapflow.dosing.services.runbook import RunbookRefused, _Actor, _audit, _open_runbook, _saved
from kapflow.practice.models import Practice
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit


def runbook_sign(*, actor, visit: Visit, request=None) -> Runbook:
    """Sign the session record: nothing can be added or changed after this; corrections are
    addenda. Signed after discharge."""
    if not actor.is_clinician:
        raise RunbookRefused("The session record is signed by a therapist or prescriber.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if runbook.discharged_at is None:
            raise RunbookRefused("Record the discharge before signing.")
        # An esketamine session's Spravato REMS form is complete before the record is signed:
        # its answers are fixed by the signature (kapflow.dosing.rems).
        form = rems.form_for(visit, practice=Practice.load())
        if form is not None and form.missing:
            raise RunbookRefused(
                "The Spravato REMS form is not complete; the record is signed once it is:", *form.missing
            )
        # Every row this signing changes is locked before its first audit row is written (the
        # audit chain's lock is taken then, and held to the end: docs/security/audit.md).
        list(Visit.objects.select_for_update(no_key=True).filter(pk=visit.pk).values_list("pk"))
        runbook.signed_at = timezone.now()
        runbook.signed_by = actor
        runbook.save(update_fields=["signed_at", "signed_by"])
        # An on-call prescriber let in for this session's alerts is let out again.
        access_grants_end(source=alerts.runbook_grant_source(runbook), request=request, actor=actor)
        # The signed record closes the session: a session still running is completed with it.
        if visit.status == Visit.Status.IN_PROGRESS:
            visit_services.visit_transition(
                request=_Actor(request, actor), visit=visit, to=Visit.Status.COMPLETED
            )
        _audit(request=request, actor=actor, action="kapflow.dosing.runbook.signed", visit=visit, obj=runbook)
    return runbook


def addendum_add(*, actor, visit: Visit, text: str, request=None) -> Addendum:
    """A correction to a signed record, kept under it with its author and time."""
    text = text.strip()
    if not text:
        raise RunbookRefused("Write the addendum.")
    with transaction.atomic():
        runbook = Runbook.objects.select_for_update(no_key=True).filter(visit=visit).first()
        if runbook is None or not runbook.is_locked:
            raise RunbookRefused("Addenda are for a signed record; until then, add a note.")
        addendum = _saved(Addendum(runbook=runbook, text=text, author=actor))
        _audit(
            request=request, actor=actor, action="kapflow.dosing.addendum.added", visit=visit, obj=addendum
        )
    return addendum
