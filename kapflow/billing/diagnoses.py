"""Diagnoses on the chart (docs/diagnoses.md): an ICD-10-CM code and its words, recorded by a
licensed clinician who writes the client's records, written once and ended once.

The code is checked for its shape and written as ICD-10-CM writes it ("f331" becomes "F33.1").
A small catalogue holds the codes a ketamine-assisted psychotherapy practice uses, with their
official words; a category (a code with codes under it, such as F43.1) is refused, naming the
billable codes under it, because only a billable code goes on a superbill. A code outside the
catalogue is taken on its shape, with the clinician's own words."""

import datetime
import re

from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.billing.access import can_diagnose
from kapflow.billing.models import Diagnosis
from kapflow.billing.services import BillingRefused
from kapflow.clients.access import writes_for
from kapflow.clients.models import Client

# A letter, a digit, a digit or letter; then, after the dot, one to four letters or digits.
# A person may leave the dot out ("F331"): it goes after the third character.
SHAPE = re.compile(r"^([A-Z][0-9][0-9A-Z])(?:\.?([0-9A-Z]{1,4}))?$")

# The billable codes a KAP practice reaches for, with their ICD-10-CM words (docs/diagnoses.md,
# "The catalogue"). ICD-10-CM changes every 1 October: check these against the new release.
CATALOGUE: dict[str, str] = {
    # Major depressive disorder, single episode
    "F32.0": "Major depressive disorder, single episode, mild",
    "F32.1": "Major depressive disorder, single episode, moderate",
    "F32.2": "Major depressive disorder, single episode, severe without psychotic features",
    "F32.3": "Major depressive disorder, single episode, severe with psychotic features",
    "F32.4": "Major depressive disorder, single episode, in partial remission",
    "F32.5": "Major depressive disorder, single episode, in full remission",
    "F32.9": "Major depressive disorder, single episode, unspecified",
    "F32.A": "Depression, unspecified",
    # Major depressive disorder, recurrent
    "F33.0": "Major depressive disorder, recurrent, mild",
    "F33.1": "Major depressive disorder, recurrent, moderate",
    "F33.2": "Major depressive disorder, recurrent severe without psychotic features",
    "F33.3": "Major depressive disorder, recurrent, severe with psychotic symptoms",
    "F33.40": "Major depressive disorder, recurrent, in remission, unspecified",
    "F33.41": "Major depressive disorder, recurrent, in partial remission",
    "F33.42": "Major depressive disorder, recurrent, in full remission",
    "F33.9": "Major depressive disorder, recurrent, unspecified",
    # Anxiety
    "F41.0": "Panic disorder [episodic paroxysmal anxiety]",
    "F41.1": "Generalized anxiety disorder",
    # Post-traumatic stress disorder
    "F43.10": "Post-traumatic stress disorder, unspecified",
    "F43.11": "Post-traumatic stress disorder, acute",
    "F43.12": "Post-traumatic stress disorder, chronic",
    # Bipolar disorder
    "F31.30": "Bipolar disorder, current episode depressed, mild or moderate severity, unspecified",
    "F31.31": "Bipolar disorder, current episode depressed, mild",
    "F31.32": "Bipolar disorder, current episode depressed, moderate",
    "F31.4": "Bipolar disorder, current episode depressed, severe, without psychotic features",
    "F31.5": "Bipolar disorder, current episode depressed, severe, with psychotic features",
    "F31.81": "Bipolar II disorder",
    # Persistent mood disorder
    "F34.1": "Dysthymic disorder",
    # Adjustment disorders
    "F43.20": "Adjustment disorder, unspecified",
    "F43.21": "Adjustment disorder with depressed mood",
    "F43.22": "Adjustment disorder with anxiety",
    "F43.23": "Adjustment disorder with mixed anxiety and depressed mood",
    "F43.24": "Adjustment disorder with disturbance of conduct",
    "F43.25": "Adjustment disorder with mixed disturbance of emotions and conduct",
    # Symptoms
    "R45.851": "Suicidal ideations",
}

# Categories whose billable codes are all in the catalogue: the refusal names them and no more.
# Any other code that heads codes of the catalogue (F32, F43.2, R45.85, ...) is a category too,
# and its refusal says that it has other codes under it.
WHOLE_IN_CATALOGUE = frozenset({"F43.1", "F33.4", "F31.3"})

# Categories near the catalogue's codes that head none of them, with their billable codes.
OTHER_CATEGORIES: dict[str, tuple[str, ...]] = {
    "F31.6": ("F31.60", "F31.61", "F31.62", "F31.63", "F31.64"),
    "F31.7": ("F31.70", "F31.71", "F31.72", "F31.73", "F31.74", "F31.75", "F31.76", "F31.77", "F31.78"),
    "F32.8": ("F32.81", "F32.89"),
    "F34.8": ("F34.81", "F34.89"),
    "F43.8": ("F43.81", "F43.89"),
}


def normalise(text: str) -> str:
    """The code as ICD-10-CM writes it: capitals, the dot after the third character ("f331"
    is "F33.1"). BillingRefused when it does not have the shape of an ICD-10-CM code."""
    typed = re.sub(r"\s+", "", str(text or "")).upper()
    match = SHAPE.match(typed)
    if match is None:
        raise BillingRefused(
            f"{typed or 'That'} is not an ICD-10-CM code: a code is a letter, a digit and a digit or "
            "letter, then a dot and up to four more (for example F33.1 or F43.10)."
        )
    category, rest = match.groups()
    return f"{category}.{rest}" if rest else category


def _joined(codes) -> str:
    codes = list(codes)
    return codes[0] if len(codes) == 1 else f"{', '.join(codes[:-1])} or {codes[-1]}"


def category_refusal(code: str) -> str | None:
    """Why `code` (normalised) cannot be recorded, when it is a category and not a billable code:
    the sentence names the billable codes under it. None for any other code."""
    if code in OTHER_CATEGORIES:
        return f"{code} is a category, not a billable code: choose {_joined(OTHER_CATEGORIES[code])}."
    # A code that heads a code of the catalogue: "F43.1" heads "F43.10", "F43" heads "F43.10".
    under = sorted(
        each for each in CATALOGUE if each != code and each.replace(".", "").startswith(code.replace(".", ""))
    )
    if not under:
        return None
    if code in WHOLE_IN_CATALOGUE:
        return f"{code} is a category, not a billable code: choose {_joined(under)}."
    return (
        f"{code} is a category, not a billable code: choose a billable code under it, such as "
        f"{_joined(under)}, or another with its words."
    )


def code_checked(text: str, description: str = "") -> tuple[str, str]:
    """The normalised code and the words to record with it: the catalogue's for a code it holds,
    the clinician's own for any other (required then). BillingRefused with what to fix."""
    code = normalise(text)
    refusal = category_refusal(code)
    if refusal:
        raise BillingRefused(refusal)
    if code in CATALOGUE:
        return code, CATALOGUE[code]
    words = " ".join(str(description or "").split())
    if not words:
        raise BillingRefused(
            f"{code} is not in kapflow's list: write its ICD-10-CM words as the code set gives them."
        )
    if len(words) > Diagnosis._meta.get_field("description").max_length:
        raise BillingRefused("Shorten the words to 200 characters or fewer.")
    return code, words


# --- Who, and reading -----------------------------------------------------------------------------


def may_diagnose(user, client: Client) -> bool:
    """Whether `user` records and ends this client's diagnoses: a licensed clinician
    (kapflow.billing.access.can_diagnose) who writes the client's records (writes_for)."""
    return can_diagnose(user) and writes_for(user, client.pk)


def _diagnoser(user, client: Client) -> None:
    if not may_diagnose(user, client):
        raise BillingRefused(
            "Only a licensed clinician who writes this client's records (a therapist or prescriber "
            "on the care team) records or ends a diagnosis."
        )


def current_on(day: datetime.date) -> Q:
    """The diagnoses current on `day`, as a filter (Diagnosis.current_on for one row)."""
    return Q(in_error=False, diagnosed_on__lte=day) & (Q(ended_on__isnull=True) | Q(ended_on__gt=day))


def diagnoses_current_on(client: Client, day: datetime.date) -> QuerySet[Diagnosis]:
    """The client's diagnoses current on `day` (a superbill's date of service), oldest first."""
    return Diagnosis.objects.filter(current_on(day), client=client).order_by("diagnosed_on", "pk")


def chart_diagnoses(client: Client) -> tuple[list[Diagnosis], list[Diagnosis]]:
    """The client's diagnoses as the chart lists them, in one query: those not ended (newest
    first), and those ended or entered in error (the latest ended first)."""
    rows = list(
        Diagnosis.objects.filter(client=client)
        .select_related("diagnosed_by", "ended_by")
        .order_by("-diagnosed_on", "-pk")
    )
    current = [row for row in rows if row.ended_at is None]
    ended = sorted(
        (row for row in rows if row.ended_at is not None), key=lambda row: row.ended_at, reverse=True
    )
    return current, ended


# --- Writing --------------------------------------------------------------------------------------


def diagnosis_record(
    *, request, client: Client, code: str, description: str = "", diagnosed_on: datetime.date
) -> Diagnosis:
    """Record a diagnosis of `client` by the requesting clinician, from `diagnosed_on` (not in the
    future). BillingRefused, with the reason, for anyone who may not, for a code that is not a
    billable ICD-10-CM code, or for a code already current on the chart. Audited."""
    actor = request.user
    _diagnoser(actor, client)
    code, words = code_checked(code, description)
    problems = []
    today = timezone.localdate()
    if diagnosed_on is None:
        problems.append("Give the date of the diagnosis.")
    elif diagnosed_on > today:
        problems.append("The date of the diagnosis is in the future: give the day it was made.")
    elif client.date_of_birth and diagnosed_on < client.date_of_birth:
        problems.append("The date of the diagnosis is before the client's date of birth: check the date.")
    if problems:
        raise BillingRefused(*problems)
    with transaction.atomic():
        # The client's row, locked: the same form sent twice finds the diagnosis the first saved.
        Client.objects.select_for_update(no_key=True).filter(pk=client.pk).values_list("pk").get()
        same = Diagnosis.objects.filter(client=client, code=code, ended_at__isnull=True).first()
        if same is not None:
            raise BillingRefused(
                f"{code} is already a current diagnosis of this client, from "
                f"{same.diagnosed_on:%b} {same.diagnosed_on.day}, {same.diagnosed_on.year}."
            )
        diagnosis = Diagnosis.objects.create(
            client=client, code=code, description=words, diagnosed_on=diagnosed_on, diagnosed_by=actor
        )
        audit_record(
            request=request,
            action="kapflow.billing.diagnosis.recorded",
            client=client,
            obj=diagnosis,
            detail={"catalogued": code in CATALOGUE},
        )
    return diagnosis


ALREADY_ENDED = "This diagnosis has already ended: an end is recorded once."


def diagnosis_end(
    *, request, diagnosis: Diagnosis, ended_on: datetime.date | None = None, in_error: bool, reason: str
) -> Diagnosis:
    """End a diagnosis, once: no longer current from `ended_on` (not before it was made, not in
    the future), or entered in error (never current, whatever the date: the day it was found
    wrong is kept). A reason is required. BillingRefused for anyone who may not, or for a
    diagnosis already ended. Audited."""
    actor = request.user
    client = diagnosis.client
    _diagnoser(actor, client)
    reason = " ".join(str(reason or "").split())
    today = timezone.localdate()
    if in_error:
        ended_on = today
    problems = []
    if not reason:
        problems.append(
            "Write why the diagnosis was entered in error." if in_error else "Write why the diagnosis ended."
        )
    elif len(reason) > Diagnosis._meta.get_field("end_reason").max_length:
        problems.append("Shorten the reason to 200 characters or fewer.")
    if ended_on is None:
        problems.append("Give the day from which the diagnosis is no longer current.")
    elif ended_on > today:
        problems.append("That day is in the future: end the diagnosis on or after the day it ends.")
    elif not in_error and ended_on < diagnosis.diagnosed_on:
        problems.append(
            f"That day is before the diagnosis was made ({diagnosis.diagnosed_on:%b} "
            f"{diagnosis.diagnosed_on.day}, {diagnosis.diagnosed_on.year}): if it was wrong from "
            "the start, mark it entered in error."
        )
    with transaction.atomic():
        locked = Diagnosis.objects.select_for_update(of=("self",), no_key=True).get(pk=diagnosis.pk)
        if locked.ended_at is not None:
            raise BillingRefused(ALREADY_ENDED)
        if problems:
            raise BillingRefused(*problems)
        locked.ended_on = ended_on
        locked.in_error = bool(in_error)
        locked.end_reason = reason
        locked.ended_by = actor
        locked.ended_at = timezone.now()
        try:
            with transaction.atomic():
                locked.save(update_fields=["ended_on", "in_error", "end_reason", "ended_by", "ended_at"])
        except DatabaseError:
            # The database's own guard (kapflow.audit.immutable): an end already set.
            raise BillingRefused(ALREADY_ENDED) from None
        audit_record(
            request=request,
            action="kapflow.billing.diagnosis.ended",
            client=client,
            obj=locked,
            detail={"in_error": bool(in_error)},
        )
    return locked
