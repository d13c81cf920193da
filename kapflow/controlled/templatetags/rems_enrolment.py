"""The client's Spravato REMS enrolment as a card, for the medical page (docs/spravato-rems.md)."""

from django import template
from django.utils import timezone

from kapflow.controlled.models import RemsEnrolment
from kapflow.medical.models import MedicationOrder

register = template.Library()


@register.inclusion_tag("controlled/_enrolment_card.html", takes_context=True)
def rems_enrolment_card(context, client):
    """The enrolment in force today (one query, two for a client without one), and a link to
    record one for the clinicians who may (an invited outside prescriber's pages do not include
    it: docs/access.md)."""
    user = context["request"].user
    enrolment = (
        RemsEnrolment.objects.filter(client=client, enrolled_on__lte=timezone.localdate())
        .select_related("prescriber", "document")
        .order_by("-enrolled_on", "-pk")
        .first()
    )
    # Shown for a client with an esketamine order or an enrolment; nothing for the others.
    shown = enrolment is not None or (
        MedicationOrder.objects.filter(client=client, route=MedicationOrder.Route.INTRANASAL).exists()
    )
    return {
        "shown": shown,
        "client": client,
        "enrolment": enrolment,
        "link": user.is_clinician and not user.outside_practice,
    }
