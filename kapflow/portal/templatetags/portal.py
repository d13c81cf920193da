from django import template
from django.urls import NoReverseMatch, reverse

from kapflow.clients.access import can_see_clinical
from kapflow.journal.selectors import is_journal_therapist
from kapflow.portal.selectors import portal_standings

register = template.Library()


@register.inclusion_tag("portal/_chart_card.html", takes_context=True)
def portal_card(context, client):
    """The chart's portal card: who has a portal account, who is invited and until when, the
    invitation buttons, and (for the client's therapist) the switch for showing progress.
    One query for the invitations; the guardians come prefetched with the chart."""
    request = context["request"]
    user = request.user
    return {
        "client": client,
        "standings": portal_standings(client),
        "may_toggle_progress": can_see_clinical(request, client) and is_journal_therapist(user, client),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def url_if_exists(name, *args):
    """The URL of `name`, or "" while that page does not exist (a link left out, not a broken
    page)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""
