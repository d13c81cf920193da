from django import template

register = template.Library()


@register.filter
def short_name(user) -> str:
    """ "Priya Raman" -> "P. Raman": the runbook's status lines, read at a glance."""
    if user is None:
        return ""
    parts = user.full_name.split()
    if len(parts) < 2:
        return user.full_name
    return f"{parts[0][0]}. {parts[-1]}"
