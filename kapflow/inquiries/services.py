from django.db import transaction

from kapflow.audit.services import audit_record, changed_fields
from kapflow.clients.services import client_create
from kapflow.inquiries.models import Inquiry
from kapflow.inquiries.tasks import send_inquiry_confirmation
from kapflow.practice.models import practice_for


class InquiryClosed(Exception):
    """The inquiry was already converted or declined."""


@transaction.atomic
def inquiry_receive(*, request, form) -> Inquiry:
    """Save an inquiry from the public page and send the confirmation once it is committed."""
    inquiry = form.save(commit=False)
    inquiry.ip_address = getattr(request, "client_ip", None)
    inquiry.full_clean()
    inquiry.save()
    audit_record(request=request, action="kapflow.inquiries.inquiry.received", obj=inquiry)
    if inquiry.email:
        practice = practice_for(request)
        transaction.on_commit(
            lambda: send_inquiry_confirmation.enqueue(
                to=inquiry.email,
                first_name=inquiry.first_name,
                practice_name=practice.discreet_name,
                practice_phone=practice.phone,
            )
        )
    return inquiry


def _lock_open(inquiry: Inquiry) -> Inquiry:
    locked = Inquiry.objects.select_for_update(no_key=True).get(pk=inquiry.pk)
    if not locked.is_open:
        raise InquiryClosed
    return locked


@transaction.atomic
def inquiry_triage(*, request, form) -> Inquiry:
    _lock_open(form.instance)
    inquiry = form.save(commit=False)
    inquiry.handled_by = request.user
    inquiry.save(update_fields=["status", "triage_note", "handled_by"])
    audit_record(
        request=request, action="kapflow.inquiries.inquiry.triaged", obj=inquiry, detail=changed_fields(form)
    )
    return inquiry


@transaction.atomic
def inquiry_convert(*, request, inquiry: Inquiry, form, primary_therapist=None):
    """Make a client from an open inquiry, carrying over what the person already told us."""
    inquiry = _lock_open(inquiry)
    client = client_create(request=request, form=form, primary_therapist=primary_therapist)
    inquiry.status = Inquiry.Status.CONVERTED
    inquiry.client = client
    inquiry.handled_by = request.user
    inquiry.save(update_fields=["status", "client", "handled_by"])
    audit_record(request=request, action="kapflow.inquiries.inquiry.converted", client=client, obj=inquiry)
    return client


@transaction.atomic
def inquiry_decline(*, request, inquiry: Inquiry, reason: str) -> Inquiry:
    inquiry = _lock_open(inquiry)
    inquiry.status = Inquiry.Status.DECLINED
    inquiry.declined_reason = reason
    inquiry.handled_by = request.user
    inquiry.full_clean()
    inquiry.save(update_fields=["status", "declined_reason", "handled_by"])
    audit_record(request=request, action="kapflow.inquiries.inquiry.declined", obj=inquiry)
    return inquiry
