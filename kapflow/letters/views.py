"""The letters' pages: the client's letters, writing one (kind, provider, session, what it
carries, the author's words), the draft's preview with its release standing, its PDF, and
signing. Every page is the client's clinicians' only (Need.CLINICAL: coordinators and admins get
404); writing and signing are for a therapist or prescriber on the care team, and anyone else
gets 404 as for a client outside their care (docs/access.md)."""

import logging

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from kapflow.accounts.access import staff_view
from kapflow.clients.access import Need, client_for, clinical_banner_for
from kapflow.letters import compose, pdf, selectors, sending, services
from kapflow.letters.forms import LetterContentForm, NewLetterForm
from kapflow.letters.models import Letter
from kapflow.letters.releases import release_standing
from kapflow.letters.sending_forms import ADDRESS_MAX
from kapflow.lib.capped import capped
from kapflow.practice.models import practice_for

logger = logging.getLogger(__name__)

# How many letters the chart's card lists; the rest are on the letters page.
CARD_LETTERS = 5


def _writer_client(request, client_id, *, action: str):
    client = clinical_banner_for(request, client_id, action=action)
    if not services.may_write(request.user, client):
        raise Http404("No such client.")
    return client


def _letter(client, letter_id) -> Letter:
    letter = selectors.letter_for(client, letter_id)
    if letter is None:
        raise Http404("No such letter.")
    return letter


# The letters page lists this many, newest first, then "Show all".
LETTERS_SHOWN = 25


@require_GET
@staff_view()
def letter_list(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.letters.list.viewed")
    return render(
        request,
        "letters/list.html",
        {
            "client": client,
            "letters": capped(
                request,
                selectors.client_letters(client),
                param="letters",
                limit=LETTERS_SHOWN,
                anchor="letters-h",
            ),
            "may_write": services.may_write(request.user, client),
        },
    )


@require_GET
@staff_view()
def letter_card(request, client_id):
    """The chart's Letters card, fetched by the chart once it has loaded: the latest letters and,
    for those who may write one, the way to."""
    client = client_for(request, client_id, action="kapflow.letters.card.viewed", need=Need.CLINICAL)
    return render(
        request,
        "letters/_chart_card.html",
        {
            "client": client,
            "letters": selectors.letters_for(client, limit=CARD_LETTERS),
            "may_write": services.may_write(request.user, client),
        },
    )


@staff_view()
def letter_new(request, client_id):
    """Without `?kind=`, the four kinds to choose from; with it, the new letter's form."""
    client = _writer_client(request, client_id, action="kapflow.letters.letter.opened")
    kind = request.GET.get("kind", "")
    if kind not in compose.KINDS:
        kinds = [(value, label, compose.spec(value)) for value, label in Letter.Kind.choices]
        return render(request, "letters/choose_kind.html", {"client": client, "kinds": kinds})
    spec = compose.spec(kind)
    form = NewLetterForm(
        request.POST or None,
        kind=kind,
        providers=client.outside_providers.all(),
        sessions=selectors.signed_sessions(client),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            letter = services.letter_create(
                request=request,
                client=client,
                kind=kind,
                provider=data["provider"],
                runbook=data.get("runbook"),
                categories=data["categories"],
                body=data["body"],
                recommendations=data.get("recommendations", ""),
            )
        except services.LetterRefused as refused:
            form.add_error(None, refused.reason)
        else:
            messages.success(request, "Draft saved. Read it through, then sign it.")
            return redirect("letters:detail", client.pk, letter.pk)
    return render(
        request,
        "letters/new.html",
        {
            "client": client,
            "kind": kind,
            "kind_label": Letter.Kind(kind).label,
            "spec": spec,
            "form": form,
            "has_providers": client.outside_providers.exists(),
        },
    )


@staff_view()
def letter_detail(request, client_id, letter_id):
    """A draft's preview (what it carries, what the chart says now, the release standing, the
    free text to edit) or a signed letter's page."""
    client = clinical_banner_for(request, client_id, action="kapflow.letters.letter.viewed")
    letter = _letter(client, letter_id)
    may_write = services.may_write(request.user, client)
    context = {"client": client, "letter": letter, "may_write": may_write}
    if request.method == "POST" and not may_write:
        raise Http404("No such letter.")
    if letter.is_signed:
        if request.method == "POST":
            # Refused by the service, which says why.
            try:
                services.letter_update(
                    request=request, letter=letter, categories=[], body="", recommendations=""
                )
            except services.LetterRefused as refused:
                messages.error(request, refused.reason)
            return redirect("letters:detail", client.pk, letter.pk)
        context.update(
            facts=letter.facts,
            disclosures=sending.letter_disclosures(letter),
            address_max=ADDRESS_MAX,
        )
        return render(request, "letters/detail.html", context)
    form = _content_form(request, letter)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.letter_update(
                request=request,
                letter=letter,
                categories=data["categories"],
                body=data["body"],
                recommendations=data.get("recommendations", ""),
            )
        except services.LetterRefused as refused:
            form.add_error(None, refused.reason)
        else:
            messages.success(request, "Draft saved.")
            return redirect("letters:detail", client.pk, letter.pk)
    return _draft_page(request, client, letter, form, may_write=may_write)


def _content_form(request, letter: Letter) -> LetterContentForm:
    return LetterContentForm(
        request.POST or None,
        kind=letter.kind,
        initial={
            "categories": letter.categories,
            "body": letter.body,
            "recommendations": letter.recommendations,
        },
    )


def _draft_page(request, client, letter: Letter, form, *, may_write: bool):
    """A draft's page: its release standing, its form (as typed, after an error) and what the
    chart says now."""
    context = {
        "client": client,
        "letter": letter,
        "may_write": may_write,
        "form": form,
        "standing": release_standing(letter.provider, letter.categories),
        "facts": compose.compose(
            client=client,
            kind=letter.kind,
            categories=letter.categories,
            runbook=letter.runbook,
            practice=practice_for(request),
        ),
    }
    return render(request, "letters/detail.html", context)


@require_GET
@staff_view()
def letter_pdf(request, client_id, letter_id):
    """The signed letter's stored PDF, or a draft's preview printed now and marked "Draft"."""
    client = clinical_banner_for(request, client_id, action="kapflow.letters.letter.viewed")
    letter = _letter(client, letter_id)
    if letter.is_signed:
        try:
            content = pdf.signed_pdf_bytes(letter)
        except pdf.TamperedFile as problem:
            logger.error("%s", problem)
            return render(
                request, "letters/file_missing.html", {"client": client, "letter": letter}, status=503
            )
    else:
        content = services.draft_pdf(letter=letter, practice=practice_for(request), actor=request.user)
    services.letter_pdf_viewed(request=request, letter=letter)
    response = HttpResponse(content, content_type="application/pdf")
    name = f"letter-{letter.pk}{'' if letter.is_signed else '-draft'}.pdf"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_POST
@staff_view()
def letter_sign(request, client_id, letter_id):
    """Sign a draft. The draft page's "Sign the letter" submits its edit form here, so what is in
    the form is saved and signed together; an error comes back on the page with what was typed.
    A POST without the form signs the draft as saved."""
    client = _writer_client(request, client_id, action="kapflow.letters.letter.opened")
    letter = _letter(client, letter_id)
    practice = practice_for(request)
    as_typed = not letter.is_signed and "body" in request.POST
    form = _content_form(request, letter) if as_typed else None
    if form is not None and not form.is_valid():
        return _draft_page(request, client, letter, form, may_write=True)
    try:
        if form is not None:
            data = form.cleaned_data
            services.letter_sign_as_typed(
                request=request,
                letter=letter,
                practice=practice,
                categories=data["categories"],
                body=data["body"],
                recommendations=data.get("recommendations", ""),
            )
        else:
            services.letter_sign(request=request, letter=letter, practice=practice)
    except services.LetterRefused as refused:
        if form is None:
            messages.error(request, refused.reason)
        else:
            form.add_error(None, refused.reason)
            return _draft_page(request, client, letter, form, may_write=True)
    else:
        messages.success(request, "Signed. The letter is locked; its PDF is kept as signed.")
    return redirect("letters:detail", client.pk, letter.pk)
