"""The inventory, discrepancy and loss-report pages (docs/inventory.md). No client is named on
any of them. Inventories and discrepancies are for those who keep stock (the practice's own
prescribers and its admins, ledger.can_keep_stock), and the registrant; a loss report is started
and read by any clinician of the practice or an admin; its steps are recorded by the registrant
or an admin. Everyone else signed in gets 403. Every page read and every write is audited."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.controlled import clocks
from kapflow.controlled import inventory as services
from kapflow.controlled.inventory_forms import (
    MAX_ROWS,
    CountForm,
    ExplainForm,
    InventoryHeadForm,
    LossReportForm,
    OpeningRows,
    StepForm,
)
from kapflow.controlled.ledger import can_keep_stock, ledger_started, quantity_text
from kapflow.controlled.models import Discrepancy, Inventory, LossReport, LossReportStep
from kapflow.practice.models import practice_for

MAX_ID = 2**63 - 1
NOT_SAVED = "Nothing was saved: see below. What you typed is kept."

stock_view = staff_view(Role.PRACTICE_ADMIN, Role.PRESCRIBER)
loss_view = staff_view(Role.PRACTICE_ADMIN, Role.PRESCRIBER, Role.THERAPIST)


def _keeper(request) -> None:
    if not can_keep_stock(request.user):
        raise PermissionDenied


def _get(model, pk, queryset=None):
    found = (queryset or model.objects).filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if found is None:
        raise Http404(f"No such {model._meta.verbose_name}.")
    return found


def _refused(form, refused: services.InventoryRefused) -> None:
    for problem in refused.problems:
        form.add_error(None, problem)


# Inventories ---------------------------------------------------------------------------------


@require_GET
@stock_view
def inventory_list(request):
    """Every inventory, newest first, with the next one's due date."""
    _keeper(request)
    today = timezone.localdate()
    last_on = services.last_inventory_on()
    due_on = clocks.next_inventory_due(last_on) if last_on else None
    audit_record(request=request, action="kapflow.controlled.inventories.viewed")
    return render(
        request,
        "controlled/inventory_list.html",
        {
            "inventories": services.inventories(),
            "started": ledger_started(),
            "due_on": due_on,
            "due_text": clocks.days_text(due_on, today) if due_on else "",
            "overdue": bool(due_on and due_on < today),
            "waiting": [
                (item, services.difference_text(item.difference, item.count.lot))
                for item in services.discrepancies_waiting()[:50]
            ],
            "registrant": practice_for(request).dea_registrant,
        },
    )


def _head_initial(request) -> dict:
    return {"taken_on": timezone.localdate(), "taken_by": request.user.pk}


@stock_view
def inventory_initial(request):
    """The initial inventory: one row per lot on hand, as its label says, with its count. "Add a
    row" sends the form back with one more empty row (no script needed); no rows at all is an
    inventory of zero stock."""
    _keeper(request)
    if ledger_started():
        if request.method == "POST":
            messages.error(request, "The initial inventory has been taken already: nothing was saved.")
        audit_record(
            request=request, action="kapflow.controlled.inventory.opened", detail={"kind": "initial"}
        )
        return render(
            request,
            "controlled/inventory_initial.html",
            {"taken": Inventory.objects.filter(kind=Inventory.Kind.INITIAL).first()},
        )
    post = request.POST if request.method == "POST" else None
    head = InventoryHeadForm(post, initial=_head_initial(request), initial_inventory=True)
    if post is not None and "add_row" in post:
        # "Add a row": the same form back as typed, one empty row more, and no errors shown
        # (the person has not finished).
        data = post.copy()
        try:
            total = int(data.get("form-TOTAL_FORMS", "0"))
        except ValueError:
            total = 0
        data["form-TOTAL_FORMS"] = str(min(max(total, 0) + 1, MAX_ROWS))
        data["form-INITIAL_FORMS"] = "0"
        head, rows = InventoryHeadForm(data, initial_inventory=True), OpeningRows(data)
        _quiet(head)
        if rows.management_form.is_valid():
            rows._errors, rows._non_form_errors = [], rows.error_class()
            for form in rows.forms:
                _quiet(form)
        else:
            rows = OpeningRows()
        return _initial_page(request, head, rows)
    rows = OpeningRows(post)
    if post is not None:
        filled = [form for form in rows.forms if form.has_changed()] if rows.is_valid() else []
        if head.is_valid() and rows.is_valid() and not filled and not head.cleaned_data["no_stock"]:
            head.add_error(
                "no_stock",
                "No lot is filled in. Count each lot on hand, one row each; if there is no stock at all, "
                "tick this box.",
            )
        if head.is_valid() and rows.is_valid():
            try:
                inventory = services.initial_inventory_take(
                    actor=request.user,
                    taken_on=head.cleaned_data["taken_on"],
                    time_of_day=head.cleaned_data["time_of_day"],
                    taken_by=head.cleaned_data["taken_by"],
                    note=head.cleaned_data["note"],
                    rows=[services.OpeningRow(**form.cleaned_data) for form in filled],
                    request=request,
                )
            except services.InventoryRefused as refused:
                _refused(head, refused)
            else:
                messages.success(request, "The initial inventory is saved and the ledger is started from it.")
                return redirect("inventory:detail", inventory.pk)
        messages.error(request, NOT_SAVED)
    else:
        audit_record(
            request=request, action="kapflow.controlled.inventory.opened", detail={"kind": "initial"}
        )
    return _initial_page(request, head, rows)


def _quiet(form) -> None:
    """Shown as typed, without checking it: its errors are taken as found, and none."""
    from django.forms.utils import ErrorDict

    form._errors = ErrorDict()


def _initial_page(request, head, rows):
    return render(
        request,
        "controlled/inventory_initial.html",
        {"head": head, "rows": rows, "max_rows": MAX_ROWS},
    )


@stock_view
def inventory_new(request):
    """A biennial (or other) inventory: a count for each lot that holds stock, and each lot the
    latest inventory counted."""
    _keeper(request)
    if not ledger_started():
        audit_record(
            request=request, action="kapflow.controlled.inventory.opened", detail={"kind": "biennial"}
        )
        return render(request, "controlled/inventory_new.html", {"not_started": True})
    lots = list(services.lots_to_count())
    post = request.POST if request.method == "POST" else None
    head = InventoryHeadForm(post, initial=_head_initial(request))
    counts = CountForm(post, lots=lots)
    if post is not None:
        if head.is_valid() and counts.is_valid():
            try:
                inventory = services.inventory_take(
                    actor=request.user,
                    kind=head.cleaned_data["kind"],
                    taken_on=head.cleaned_data["taken_on"],
                    time_of_day=head.cleaned_data["time_of_day"],
                    taken_by=head.cleaned_data["taken_by"],
                    note=head.cleaned_data["note"],
                    counts=[services.LotCount(**row) for row in counts.counts()],
                    entry_key=head.cleaned_data["entry_key"],
                    request=request,
                )
            except services.InventoryRefused as refused:
                _refused(head, refused)
            else:
                found = Discrepancy.objects.filter(count__inventory=inventory).count()
                messages.success(
                    request,
                    "The inventory is saved. "
                    + (
                        f"{found} count{'s differ' if found != 1 else ' differs'} from the ledger: "
                        "the DEA registrant explains each."
                        if found
                        else "Every count matches the ledger."
                    ),
                )
                return redirect("inventory:detail", inventory.pk)
        messages.error(request, NOT_SAVED)
    else:
        audit_record(
            request=request, action="kapflow.controlled.inventory.opened", detail={"kind": "biennial"}
        )
    return render(request, "controlled/inventory_new.html", {"head": head, "counts": counts})


@require_GET
@stock_view
def inventory_detail(request, inventory_id):
    """An inventory: each lot's count beside the ledger's balance at the time, and each
    discrepancy with its explanation, or who is to write it."""
    _keeper(request)
    inventory = _get(Inventory, inventory_id, Inventory.objects.select_related("taken_by", "recorded_by"))
    audit_record(request=request, action="kapflow.controlled.inventory.viewed", obj=inventory)
    return render(
        request,
        "controlled/inventory_detail.html",
        {
            "inventory": inventory,
            "counts": services.with_texts(services.inventory_counts(inventory)),
            "registrant": practice_for(request).dea_registrant,
            "is_registrant": services.is_registrant(request.user, practice_for(request)),
        },
    )


# Discrepancies ------------------------------------------------------------------------------


@stock_view
def discrepancy_explain(request, discrepancy_id):
    """A discrepancy: the count beside the ledger, and its explanation, written once by the
    practice's DEA registrant. Others who keep stock read it."""
    practice = practice_for(request)
    registrant = services.is_registrant(request.user, practice)
    if not (registrant or can_keep_stock(request.user)):
        raise PermissionDenied
    discrepancy = _get(
        Discrepancy,
        discrepancy_id,
        Discrepancy.objects.select_related("count__lot", "count__inventory", "explained_by", "loss_report"),
    )
    surplus = discrepancy.difference > 0
    form = None
    if discrepancy.explained_at is None and registrant:
        form = ExplainForm(request.POST if request.method == "POST" else None, surplus=surplus)
    if request.method == "POST":
        if form is None:
            if discrepancy.explained_at is not None:
                messages.error(
                    request, "This discrepancy has been explained already; an explanation is written once."
                )
                return redirect("inventory:discrepancy", discrepancy.pk)
            raise PermissionDenied
        if form.is_valid():
            try:
                services.discrepancy_explain(
                    actor=request.user,
                    discrepancy=discrepancy,
                    outcome=form.cleaned_data["outcome"],
                    explanation=form.cleaned_data["explanation"],
                    practice=practice,
                    request=request,
                )
            except services.InventoryRefused as refused:
                _refused(form, refused)
            else:
                messages.success(request, "The explanation is saved.")
                return redirect("inventory:discrepancy", discrepancy.pk)
        messages.error(request, NOT_SAVED)
    else:
        audit_record(request=request, action="kapflow.controlled.discrepancy.viewed", obj=discrepancy)
    return render(
        request,
        "controlled/discrepancy_detail.html",
        {
            "discrepancy": discrepancy,
            "count": services.with_texts([discrepancy.count])[0],
            "lot": discrepancy.count.lot,
            "form": form,
            "surplus": surplus,
            "surplus_words": services.surplus_words(discrepancy) if surplus else "",
            "registrant": practice.dea_registrant,
            "is_registrant": registrant,
            "is_admin": request.user.is_practice_admin,
            "practice": practice,
        },
    )


# Loss reports --------------------------------------------------------------------------------


def _reporter(request) -> None:
    if not services.can_report_loss(request.user):
        raise PermissionDenied


@require_GET
@loss_view
def loss_list(request):
    _reporter(request)
    today = timezone.localdate()
    reports = list(services.loss_reports())
    for report in reports:
        report.notice_text = clocks.days_text(report.notice_due_on, today)
        report.form_text = clocks.days_text(report.form_due_on, today)
    audit_record(request=request, action="kapflow.controlled.loss_reports.viewed")
    return render(
        request,
        "controlled/loss_list.html",
        {"reports": reports, "today": today, "practice": practice_for(request)},
    )


@loss_view
def loss_new(request):
    """Start a theft or significant loss report: what happened and when it was found, and the
    quantities lost from each lot (posted to the ledger with it). The registrant and the
    admins are emailed at once."""
    _reporter(request)
    practice = practice_for(request)
    lots = list(services.loss_lots()) if ledger_started() else []
    post = request.POST if request.method == "POST" else None
    now = timezone.localtime()
    form = LossReportForm(
        post, lots=lots, initial={"discovered_on": now.date(), "discovered_time": now.strftime("%H:%M")}
    )
    if post is not None:
        if form.is_valid():
            try:
                report = services.loss_report_start(
                    actor=request.user,
                    kind=form.cleaned_data["kind"],
                    discovered_at=form.cleaned_data["discovered_at"],
                    description=form.cleaned_data["description"],
                    losses=[services.LotLoss(lot, quantity) for lot, quantity in form.losses()],
                    practice=practice,
                    entry_key=form.cleaned_data["entry_key"],
                    request=request,
                )
            except services.InventoryRefused as refused:
                _refused(form, refused)
            else:
                messages.success(
                    request,
                    "The report is started. The DEA registrant and the practice admins have been emailed.",
                )
                return redirect("inventory:loss_detail", report.pk)
        messages.error(request, NOT_SAVED)
    else:
        audit_record(request=request, action="kapflow.controlled.loss_report.opened")
    return render(
        request,
        "controlled/loss_new.html",
        {
            "form": form,
            "registrant": practice.dea_registrant,
            "notice_days": practice.loss_notice_business_days,
            "form_days": practice.loss_form_days,
        },
    )


def _loss_page(request, report: LossReport, step_form=None):
    practice = practice_for(request)
    today = timezone.localdate()
    steps = list(report.steps.select_related("recorded_by"))
    done = {step.step for step in steps}
    may_record = services.can_record_step(request.user, practice) and LossReportStep.Step.CLOSED not in done
    if may_record and step_form is None:
        step_form = StepForm(done=done, initial={"done_on": today})
    key = f"controlled:loss:{report.pk}"
    return render(
        request,
        "controlled/loss_detail.html",
        {
            "report": report,
            "entries": [
                (
                    entry,
                    quantity_text(-entry.quantity, entry.lot),
                    quantity_text(entry.balance_after, entry.lot),
                )
                for entry in report.entries.select_related("lot").order_by("pk")
            ],
            "steps": steps,
            "done": done,
            "step_form": step_form if may_record else None,
            "notice_text": clocks.days_text(report.notice_due_on, today),
            "form_text": clocks.days_text(report.form_due_on, today),
            "notice_late": LossReportStep.Step.NOTICE not in done and report.notice_due_on < today,
            "form_late": LossReportStep.Step.FORM_106 not in done and report.form_due_on < today,
            "told": services.told_of([key])[key],
            "registrant": practice.dea_registrant,
        },
    )


@require_GET
@loss_view
def loss_detail(request, report_id):
    _reporter(request)
    report = _get(LossReport, report_id, LossReport.objects.select_related("discovered_by", "discrepancy"))
    audit_record(request=request, action="kapflow.controlled.loss_report.viewed", obj=report)
    return _loss_page(request, report)


@require_POST
@loss_view
def loss_step(request, report_id):
    """Record one step of a report (notice sent, Form 106 filed, closed), once each."""
    practice = practice_for(request)
    if not services.can_record_step(request.user, practice):
        raise PermissionDenied
    report = _get(LossReport, report_id, LossReport.objects.select_related("discovered_by", "discrepancy"))
    done = set(report.steps.values_list("step", flat=True))
    form = StepForm(request.POST, done=done)
    if form.is_valid():
        try:
            step = services.loss_report_step_record(
                actor=request.user, report=report, practice=practice, request=request, **form.cleaned_data
            )
        except services.InventoryRefused as refused:
            _refused(form, refused)
        else:
            messages.success(request, f"Recorded: {step.get_step_display().lower()}.")
            return redirect("inventory:loss_detail", report.pk)
    messages.error(request, NOT_SAVED)
    return _loss_page(request, report, step_form=form)
