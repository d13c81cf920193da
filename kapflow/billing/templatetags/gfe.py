"""The right to dispute a bill above the Good Faith Estimate, for pages about a client's money
(docs/good-faith-estimate.md, "The right to dispute"): `{% load gfe %}{% estimate_dispute client %}`
shows the panel when the client has an estimate in force, flagged when the bill is over it by the
practice's threshold."""

from django import template

from kapflow.billing.estimates import current_estimate, dispute
from kapflow.practice.models import Practice, practice_for

register = template.Library()


@register.inclusion_tag("billing/_dispute_panel.html", takes_context=True)
def estimate_dispute(context, client, staff=False):
    """On the client's portal, the right to dispute whenever an estimate is in force (and how far
    over the bills are when they are); on a staff page, only when the bills are over, in words
    for the coordinator."""
    estimate = current_estimate(client)
    if estimate is None:
        return {"show": False}
    # The request's settings row, read once for the page (and not again for this panel).
    request = context.get("request")
    practice = practice_for(request) if request is not None else Practice.load()
    over = dispute(client, practice, estimate=estimate)
    if staff and over is None:
        return {"show": False}
    return {"show": True, "practice": practice, "dispute": over, "staff": staff}
