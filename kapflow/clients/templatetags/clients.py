from django import template

from kapflow.clients.flags import client_flags

register = template.Library()


@register.inclusion_tag("clients/_banner.html")
def client_banner(client):
    return {"client": client, "flags": client_flags(client)}
