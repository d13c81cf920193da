"""The client's medicine page (docs/client-held-medicine.md): the pharmacy's fills of the client's
sublingual prescriptions, per order, with what the client should hold of each strength, and the
form recording a fill.

Who (docs/access.md): a prescriber of the practice on the client's care team and the practice's
admins record fills; the client's therapists read them. A coordinator is refused (403), a
clinician outside the client's care gets 404, and so does an invited outside prescriber (the
page is not among theirs). The admin reaches the client as for demographics (every client), as
they keep the practice's controlled-substance record."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import Need, client_banner_for
from kapflow.controlled import fills
from kapflow.controlled.fill_forms import FillForm

read_view = staff_view(Role.PRACTICE_ADMIN, Role.THERAPIST, Role.PRESCRIBER)
record_view = staff_view(Role.PRACTICE_ADMIN, Role.PRESCRIBER)


def _client(request, client_id, *, action: str):
    need = Need.DEMOGRAPHICS if request.user.is_practice_admin else Need.CLINICAL
    return client_banner_for(request, client_id, action=action, need=need)


def _orders(client, client_fills: list) -> list[dict]:
    """Each sublingual order with its fills and what is left of the prescription: refills and
    the last day one may be filled (21 CFR 1306.22)."""
    by_order: dict[int, list] = {}
    for fill in client_fills:
        by_order.setdefault(fill.order_id, []).append(fill)
    rows = []
    for order in fills.sublingual_orders(client):
        order_fills = by_order.get(order.pk, [])
        # A fill marked entered in error is shown, but counts for nothing.
        standing = [fill for fill in order_fills if fill.voided_at is None]
        original = next((fill for fill in standing if fill.refill_number == 0), None)
        start, source = fills.issued_on(order, original)
        row = {"order": order, "fills": order_fills, "source": source}
        if original is not None:
            row["refills_left"] = original.refills_authorised - (len(standing) - 1)
        if start is not None:
            row["last_day"] = fills.months_after(start, fills.REFILL_MONTHS)
        rows.append(row)
    return rows


def _page(request, client, form):
    client_fills = fills.fills_of(client)
    return render(
        request,
        "controlled/fills.html",
        {
            "client": client,
            "orders": _orders(client, client_fills),
            "supplies": fills.supplies(client, fills=client_fills),
            "form": form,
            "may_record": fills.may_record(request.user),
            "today": timezone.localdate(),
        },
    )


@read_view
def fill_list(request, client_id):
    client = _client(request, client_id, action="kapflow.controlled.fills.viewed")
    form = FillForm(client=client) if fills.may_record(request.user) else None
    return _page(request, client, form)


@require_POST
@record_view
def fill_new(request, client_id):
    if not fills.may_record(request.user):  # an outside prescriber never gets here (staff_view)
        raise PermissionDenied
    client = _client(request, client_id, action="kapflow.controlled.fills.opened")
    form = FillForm(request.POST, client=client)
    if form.is_valid():
        data = form.cleaned_data
        try:
            fill = fills.fill_record(
                request=request,
                actor=request.user,
                client=client,
                order=data["order"],
                pharmacy=data["pharmacy"],
                pharmacy_phone=data["pharmacy_phone"],
                rx_number=data["rx_number"],
                form=data["form"],
                strength_mg=data["strength_mg"],
                quantity=data["quantity"],
                refills_authorised=data["refills_authorised"],
                refill_number=data["refill_number"],
                filled_on=data["filled_on"],
                lot_number=data["lot_number"],
            )
        except fills.FillRefused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            which = "Original fill" if fill.refill_number == 0 else f"Refill {fill.refill_number}"
            messages.success(request, f"{which} recorded: {fill}.")
            return redirect("fills:list", client.pk)
    return _page(request, client, form)


@require_POST
@record_view
def fill_void(request, client_id, fill_id):
    """Mark one of the client's fills entered in error, with the reason (fills.fill_void)."""
    if not fills.may_record(request.user):
        raise PermissionDenied
    client = _client(request, client_id, action="kapflow.controlled.fills.opened")
    fill = get_object_or_404(fills.PharmacyFill, pk=fill_id, client=client)
    try:
        fills.fill_void(
            actor=request.user, fill=fill, reason=request.POST.get("reason", "")[:2000], request=request
        )
    except fills.FillRefused as refused:
        messages.error(request, " ".join(refused.problems))
    else:
        messages.success(request, f"Marked entered in error: {fill}. Record the right fill beside it.")
    return redirect("fills:list", client.pk)
