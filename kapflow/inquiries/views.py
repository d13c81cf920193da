from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.clients.forms import NewClientForm
from kapflow.inquiries import services
from kapflow.inquiries.forms import DeclineForm, InquiryForm, TriageForm
from kapflow.inquiries.models import Inquiry
from kapflow.lib.params import int_param
from kapflow.lib.ratelimit import allow

inbox_view = staff_view(Role.COORDINATOR, Role.PRACTICE_ADMIN)


def start(request):
    """The public "start with a conversation" page. No account needed."""
    form = InquiryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.is_robot:
            return redirect("start_thanks")
        if not allow(
            f"inquiry:{request.client_ip}", limit=settings.INQUIRY_RATE_PER_HOUR, period_seconds=3600
        ):
            form.add_error(
                None,
                "We have received several messages from this connection in the last hour. "
                "Please try again later, or call us.",
            )
            return render(request, "inquiries/start.html", {"form": form}, status=429)
        services.inquiry_receive(request=request, form=form)
        return redirect("start_thanks")
    return render(request, "inquiries/start.html", {"form": form})


def thanks(request):
    return render(request, "inquiries/thanks.html")


@inbox_view
def inbox(request):
    show = request.GET.get("show", "open")
    inquiries = Inquiry.objects.select_related("handled_by", "client")
    if show == "open":
        inquiries = inquiries.open()
    elif show in Inquiry.Status.values:
        inquiries = inquiries.filter(status=show)
    else:
        show = "all"
    page = Paginator(inquiries, 50).get_page(int_param(request, "page", 1))
    audit_record(
        request=request,
        action="kapflow.inquiries.inbox.viewed",
        detail={"show": show, "shown": len(page.object_list)},
    )
    return render(
        request,
        "inquiries/inbox.html",
        {
            "page": page,
            "show": show,
            "statuses": Inquiry.Status.choices,
        },
    )


def _inquiry(request, inquiry_id, *, action: str) -> Inquiry:
    inquiry = get_object_or_404(Inquiry.objects.select_related("handled_by", "client"), pk=inquiry_id)
    audit_record(request=request, action=action, client=inquiry.client, obj=inquiry)
    return inquiry


@inbox_view
def detail(request, inquiry_id):
    inquiry = _inquiry(request, inquiry_id, action="kapflow.inquiries.inquiry.viewed")
    form = TriageForm(request.POST or None, instance=inquiry)
    if request.method == "POST" and inquiry.is_open and form.is_valid():
        try:
            services.inquiry_triage(request=request, form=form)
        except services.InquiryClosed:
            messages.error(request, "This inquiry was closed by someone else in the meantime.")
        else:
            messages.success(request, "Triage notes saved.")
        return redirect("inquiries:detail", inquiry.pk)
    return render(
        request,
        "inquiries/detail.html",
        {
            "inquiry": inquiry,
            "form": form,
            "decline_form": DeclineForm(),
        },
    )


@inbox_view
def convert(request, inquiry_id):
    inquiry = _inquiry(request, inquiry_id, action="kapflow.inquiries.inquiry.viewed")
    if not inquiry.is_open:
        messages.info(request, "This inquiry is already closed.")
        return redirect("inquiries:detail", inquiry.pk)
    initial = {
        "first_name": inquiry.first_name,
        "last_name": inquiry.last_name,
        "email": inquiry.email,
        "phone": inquiry.phone,
        "preferred_contact": inquiry.preferred_contact,
    }
    form = NewClientForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            client = services.inquiry_convert(
                request=request,
                inquiry=inquiry,
                form=form,
                primary_therapist=form.cleaned_data["primary_therapist"],
            )
        except services.InquiryClosed:
            messages.error(request, "This inquiry was closed by someone else in the meantime.")
            return redirect("inquiries:detail", inquiry.pk)
        messages.success(request, f"{client.display_name} is now a client.")
        return redirect("clients:chart", client.pk)
    return render(request, "inquiries/convert.html", {"inquiry": inquiry, "form": form})


@require_POST
@inbox_view
def decline(request, inquiry_id):
    inquiry = _inquiry(request, inquiry_id, action="kapflow.inquiries.inquiry.viewed")
    form = DeclineForm(request.POST)
    if not inquiry.is_open:
        messages.info(request, "This inquiry is already closed.")
        return redirect("inquiries:detail", inquiry.pk)
    if not form.is_valid():
        return render(
            request,
            "inquiries/detail.html",
            {
                "inquiry": inquiry,
                "form": TriageForm(instance=inquiry),
                "decline_form": form,
            },
        )
    try:
        services.inquiry_decline(request=request, inquiry=inquiry, reason=form.cleaned_data["reason"])
    except services.InquiryClosed:
        messages.error(request, "This inquiry was closed by someone else in the meantime.")
    else:
        messages.success(request, "The inquiry was declined.")
    return redirect("inquiries:detail", inquiry.pk)
