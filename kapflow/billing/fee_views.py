"""The fee schedule pages, /billing/fees/ (docs/billing.md, "The fee schedule page"): the schedule
in force on a day, grouped by visit kind, the lines coming into force later, each line's history,
and, for a practice admin, a new line, a change of a line and a withdrawal.

Who (docs/access.md, "Billing"): the coordinators and the admins read the schedule
(`can_bill`); only the admins write it (`can_set_fees`, checked again by the services); a
clinician, a client or a guardian gets 403. The schedule holds no client's data: reading it is
not audited, writing it is (kapflow.billing.schedule)."""

import datetime
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.billing import fees as fee_schedule
from kapflow.billing import schedule
from kapflow.billing.access import can_bill, can_set_fees
from kapflow.billing.fee_forms import FeeForm, ScheduleDateForm, WithdrawForm
from kapflow.billing.models import Fee
from kapflow.billing.services import BillingRefused, money
from kapflow.lib.dates import long_date
from kapflow.lib.params import MAX_ID
from kapflow.visits.models import Visit


def reader_view(view):
    """A page of the schedule to read: the coordinators and the admins."""

    @staff_view(Role.PRACTICE_ADMIN, Role.COORDINATOR)
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_bill(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def writer_view(view):
    """A page that writes the schedule: the practice admins."""

    @staff_view(Role.PRACTICE_ADMIN)
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_set_fees(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _fee_or_404(fee_id: int) -> Fee:
    fee = Fee.objects.filter(pk=fee_id).first() if 0 < fee_id <= MAX_ID else None
    if fee is None:
        raise Http404("No such line of the fee schedule.")
    return fee


def band(minutes_from: int) -> str:
    return "Any length" if minutes_from == 0 else f"{minutes_from} minutes or more"


def _row(fee: Fee) -> dict:
    return {
        "fee": fee,
        "band": band(fee.minutes_from),
        "amount": money(fee.amount),
    }


def _latest_rows(fees: list[Fee]) -> dict[tuple, Fee]:
    """Each line's latest row (of any date): what "Change" prefills from."""
    latest: dict[tuple, Fee] = {}
    for fee in fees:
        held = latest.get(fee.line)
        if held is None or (fee.effective_from, fee.pk) > (held.effective_from, held.pk):
            latest[fee.line] = fee
    return latest


@require_GET
@reader_view
def fee_schedule_page(request):
    """The schedule in force on a day (today unless "Show the schedule on" says another), by
    visit kind, and every row dated after that day. The rows are few: read once."""
    today = timezone.localdate()
    form = ScheduleDateForm(request.GET or None)
    day = today
    if form.is_bound and form.is_valid() and form.cleaned_data["on"]:
        day = form.cleaned_data["on"]
    fees = list(Fee.objects.select_related("created_by"))
    in_force = fee_schedule.lines_in_force(day, fees=fees)
    kinds = []
    for value, label in Visit.Kind.choices:
        lines = [_row(fee) for fee in in_force if fee.kind == value]
        kinds.append({"value": value, "label": label, "lines": lines})
    later = sorted(
        (fee for fee in fees if fee.effective_from > day),
        key=lambda fee: (fee.effective_from, fee.kind, fee.minutes_from, fee.code, fee.pk),
    )
    return render(
        request,
        "billing/fees.html",
        {
            "form": form,
            "day": day,
            "is_today": day == today,
            "today": today,
            "kinds": kinds,
            "later": [_row(fee) for fee in later],
            "can_write": can_set_fees(request.user),
        },
    )


@require_GET
@reader_view
def fee_line(request, fee_id: int):
    """Every row of one line (its kind, length band and code), latest first, with the one in force
    today marked."""
    fee = _fee_or_404(fee_id)
    history = schedule.line_history(fee)
    today = timezone.localdate()
    current = next(
        (line for line in fee_schedule.lines_in_force(today, fees=history) if line.line == fee.line), None
    )
    return render(
        request,
        "billing/fees_line.html",
        {
            "fee": history[0],
            "band": band(fee.minutes_from),
            "rows": [_row(row) for row in history],
            "current": current,
            "today": today,
            "can_write": can_set_fees(request.user),
        },
    )


def _saved(request, fee: Fee):
    when = "today" if fee.effective_from == timezone.localdate() else f"from {long_date(fee.effective_from)}"
    what = fee.code or "free visit"
    verb = "withdrawn" if fee.withdrawn else "in force"
    messages.success(
        request,
        f"{fee.get_kind_display()}, {band(fee.minutes_from).lower()}, {what}: {verb} {when}. "
        "Charges already made keep their fees.",
    )
    url = reverse("fees:schedule")
    if fee.effective_from > timezone.localdate():
        url += f"?on={fee.effective_from.isoformat()}"
    return redirect(url)


def _write_line(request, form: FeeForm, fixed: Fee | None):
    data = form.cleaned_data
    source = fixed
    try:
        fee = schedule.fee_set(
            request=request,
            kind=source.kind if source else data["kind"],
            minutes_from=source.minutes_from if source else data["minutes_from"],
            code=source.code if source else data["code"],
            modifiers=data["modifiers"],
            units=data["units"],
            description=data["description"],
            amount=data["amount"],
            payer_dependent=data["payer_dependent"],
            effective_from=data["effective_from"],
        )
    except BillingRefused as refused:
        for problem in refused.problems:
            form.add_error(None, problem)
        return None
    return _saved(request, fee)


def _form_page(request, form: FeeForm, change_of: Fee | None):
    return render(
        request,
        "billing/fees_form.html",
        {
            "form": form,
            "change_of": change_of,
            "band": band(change_of.minutes_from) if change_of else "",
            "common_codes": schedule.COMMON_CODES,
        },
    )


@require_http_methods(["GET", "POST"])
@writer_view
def fee_new(request):
    form = FeeForm(request.POST or None, initial={"effective_from": timezone.localdate(), "units": 1})
    if request.method == "POST" and form.is_valid():
        done = _write_line(request, form, None)
        if done is not None:
            return done
    return _form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@writer_view
def fee_change(request, fee_id: int):
    """A new row for the line, prefilled from its latest row: its kind, band and code kept."""
    fee = _fee_or_404(fee_id)
    latest = schedule.line_history(fee)[0]
    today = timezone.localdate()
    # A line has one row a day: a change of a line last set today (or for a later day) starts
    # the day after.
    start = today if latest.effective_from < today else latest.effective_from + datetime.timedelta(days=1)
    form = FeeForm(request.POST or None, change_of=latest)
    if not form.is_bound:
        form.initial["effective_from"] = start
    if request.method == "POST" and form.is_valid():
        done = _write_line(request, form, latest)
        if done is not None:
            return done
    return _form_page(request, form, latest)


@require_http_methods(["GET", "POST"])
@writer_view
def fee_withdraw(request, fee_id: int):
    fee = _fee_or_404(fee_id)
    latest = schedule.line_history(fee)[0]
    form = WithdrawForm(request.POST or None, initial={"effective_from": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            withdrawn = schedule.fee_withdraw(
                request=request, fee=latest, effective_from=form.cleaned_data["effective_from"]
            )
        except BillingRefused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            return _saved(request, withdrawn)
    return render(
        request,
        "billing/fees_withdraw.html",
        {"form": form, "fee": latest, "band": band(latest.minutes_from), "amount": money(latest.amount)},
    )
