"""Pages for sending a signed letter (an emailed one-time link, or a download to fax or post), the
client's disclosures and their accounting, and the provider's public download page. A letter's
pages are its client's clinicians' (kapflow.clients.access, Need.CLINICAL); anyone else gets 404.
Sending a letter and recording a disclosure by hand are for those who may write the client's
letters (services.may_write: a therapist or prescriber on the care team); any other clinician
gets 404 there too, as for writing."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapflow.accounts.access import staff_view
from kapflow.audit.services import audit_record
from kapflow.clients.access import clinical_banner_for
from kapflow.letters import sending
from kapflow.letters.models import Disclosure, Letter
from kapflow.letters.releases import release_standing
from kapflow.letters.sending_forms import ADDRESS_MAX, DisclosureForm, DownloadForm
from kapflow.letters.services import may_write
from kapflow.lib.spreadsheet import csv_response
from kapflow.practice.models import practice_for


def _letter_for(request, client_id, letter_id, *, action: str, sender: bool = False) -> tuple:
    """The client (through kapflow.clients.access) and its letter; with `sender`, 404 unless the
    user may send it (the people who may write it)."""
    client = clinical_banner_for(request, client_id, action=action)
    if sender and not may_write(request.user, client):
        raise Http404("No such letter.")
    letter = get_object_or_404(
        Letter.objects.filter(client=client).select_related("provider", "signed_by"), pk=letter_id
    )
    return client, letter


def _send_page(request, client, letter, *, download_form=None, method="", refusal="", status=200):
    """The send page; after a fax or post download that came back (`method`), its form as typed
    with its errors, or the service's `refusal`."""
    standing = release_standing(letter.provider, letter.categories) if letter.is_signed else None
    return render(
        request,
        "letters/send_page.html",
        {
            "client": client,
            "letter": letter,
            "standing": standing,
            "may_send": may_write(request.user, client),
            "download_form": download_form or DownloadForm(),
            "address_max": ADDRESS_MAX,
            "failed_method": method,
            "refusal": refusal,
            "disclosures": sending.letter_disclosures(letter),
        },
        status=status,
    )


@require_GET
@staff_view()
def send_page(request, client_id, letter_id):
    """How a signed letter can go out, whether its release allows it now, and where it has gone."""
    client, letter = _letter_for(request, client_id, letter_id, action="kapflow.letters.sending.viewed")
    return _send_page(request, client, letter)


@require_POST
@staff_view()
def send_link(request, client_id, letter_id):
    client, letter = _letter_for(
        request, client_id, letter_id, action="kapflow.letters.sending.opened", sender=True
    )
    try:
        link = sending.letter_send_link(request=request, letter=letter)
    except sending.SendRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request,
            f"Sent: {letter.provider.name} was emailed a link at {link.email}. It works once, until "
            f"{date_format(timezone.localtime(link.expires_at), 'M j, g:i A')}.",
        )
    return redirect("letter_sending:page", client.pk, letter.pk)


@require_POST
@staff_view()
def download(request, client_id, letter_id, method):
    client, letter = _letter_for(
        request, client_id, letter_id, action="kapflow.letters.sending.opened", sender=True
    )
    if method not in sending.DOWNLOAD_METHODS:
        messages.error(request, "Choose fax or post.")
        return redirect("letter_sending:page", client.pk, letter.pk)
    form = DownloadForm(request.POST)
    if not form.is_valid():
        return _send_page(request, client, letter, download_form=form, method=method)
    try:
        disclosure, content = sending.letter_download(
            request=request, letter=letter, method=method, address=form.cleaned_data["address"]
        )
    except sending.SendRefused as refusal:
        # The page again, with the address as typed and why nothing went.
        return _send_page(request, client, letter, download_form=form, method=method, refusal=str(refusal))
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="letter-{letter.pk}-{method}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


# Disclosures -----------------------------------------------------------------------------------


@require_GET
@staff_view()
def disclosure_list(request, client_id):
    """Every disclosure of the client's information, whatever its basis."""
    client = clinical_banner_for(request, client_id, action="kapflow.letters.disclosures.viewed")
    disclosures = sending.client_disclosures(client)
    return render(
        request,
        "letters/disclosures.html",
        {
            "client": client,
            "disclosures": disclosures,
            "access_copies": [d for d in disclosures if d.basis == Disclosure.Basis.RIGHT_OF_ACCESS],
            "years": sending.ACCOUNTING_YEARS,
            "may_record": may_write(request.user, client),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_view()
def disclosure_new(request, client_id):
    """A disclosure made outside kapflow, recorded by hand by one of those who may send the
    client's letters (404 for anyone else)."""
    client = clinical_banner_for(request, client_id, action="kapflow.letters.disclosure.opened")
    if not may_write(request.user, client):
        raise Http404("No such client.")
    form = DisclosureForm(request.POST or None, initial={"disclosed_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            sending.disclosure_record(request=request, client=client, **form.cleaned_data)
        except sending.SendRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, "The disclosure is recorded.")
            return redirect("disclosures:list", client.pk)
    return render(request, "letters/disclosure_form.html", {"client": client, "form": form})


@require_GET
@staff_view()
def disclosure_export(request, client_id):
    """The accounting of disclosures a client asked for: the six years before today, as CSV.
    `?only=required` keeps the entries HIPAA requires (45 CFR 164.528); otherwise every one, each
    marked."""
    client = clinical_banner_for(request, client_id, action="kapflow.letters.disclosures.export_opened")
    required_only = request.GET.get("only") == "required"
    today = timezone.localdate()
    rows = sending.accounting(client, asked_on=today, required_only=required_only)
    audit_record(
        request=request,
        action="kapflow.letters.disclosures.exported",
        client=client,
        obj=client,
        detail={
            "required_only": required_only,
            "since": sending.accounting_start(today).isoformat(),
            "rows": len(rows),
        },
    )
    header = [
        "date",
        "recipient",
        "recipient address",
        "information disclosed",
        "purpose",
        "legal basis",
        "how",
        "required in an accounting (45 CFR 164.528)",
        "note",
    ]
    lines = [header] + [_accounting_row(disclosure) for disclosure in rows]
    if required_only:
        # Not required by HIPAA (164.528(a)(1)(ii)), listed all the same in a section of their own.
        copies = sending.access_copies(client, asked_on=today)
        if copies:
            lines += [[], [ACCESS_COPIES_HEADING], header]
            lines += [_accounting_row(disclosure) for disclosure in copies]
    scope = "required" if required_only else "all"
    return csv_response(f"disclosures-{client.pk}-{today.isoformat()}-{scope}.csv", lines)


ACCESS_COPIES_HEADING = "Copies of the record given at the client's request"


def _accounting_row(disclosure) -> list:
    link = getattr(disclosure, "download_link", None)
    note = ""
    if link is not None:
        note = "downloaded" if link.used_at else "link never opened"
    return [
        timezone.localdate(disclosure.disclosed_at),
        disclosure.recipient_name,
        disclosure.recipient_address,
        disclosure.what,
        disclosure.purpose,
        disclosure.get_basis_display(),
        disclosure.get_method_display(),
        "yes" if disclosure.accountable else "no",
        note,
    ]


# The provider's download page (public: the token is the key) -----------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def link_page(request, token):
    """GET shows a button and uses nothing up (mail scanners follow links); POST hands over the
    PDF once. A link that cannot be used gets the same page whatever the reason."""
    practice = practice_for(request)
    if request.method == "POST":
        found = sending.link_use(request=request, token=token)
        if found is not None:
            response = HttpResponse(found.content, content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{found.filename}"'
            response["Cache-Control"] = "no-store"
            return response
        usable = False
    else:
        usable = sending.link_open(request=request, token=token)
    return render(
        request,
        "letters/link_page.html",
        {"usable": usable, "practice_name": practice.discreet_name, "practice_phone": practice.phone},
    )
