from django import template

from kapflow.medical.selectors import medical_summary
from kapflow.practice.models import practice_for

register = template.Library()


@register.inclusion_tag("medical/_chart_card.html", takes_context=True)
def medical_chart_card(context, client):
    """The chart's medical card: `{% load medical %}{% if clinical %}{% medical_chart_card client %}
    {% endif %}`. Clinical content: include it for the client's clinicians only."""
    request = context["request"]
    return {
        "client": client,
        "medical": medical_summary(client, practice=practice_for(request)),
        "user": request.user,
    }
