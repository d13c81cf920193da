from django import template

from kapflow.clients.access import can_see_clinical
from kapflow.clients.flags import Flag, client_flags

register = template.Library()


@register.inclusion_tag("clients/_banner.html", takes_context=True)
def client_banner(context, client):
    """The banner on every client page. Urgent alerts are clinical: they show to the client's
    clinicians only (the page's queryset prefetches them as `open_alerts`)."""
    flags = client_flags(client)
    open_alerts = getattr(client, "open_alerts", [])
    if open_alerts and can_see_clinical(context["request"], client):
        flags.insert(0, Flag("Urgent alert open", "danger"))
    return {"client": client, "flags": flags}
