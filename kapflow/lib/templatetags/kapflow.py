from django import template

register = template.Library()


@register.filter
def described(field):
    """Render a form field's widget tied to its help text and its errors for screen readers."""
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}_helptext")
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    attrs = {"aria-describedby": " ".join(ids)} if ids else {}
    return field.as_widget(attrs=attrs)


@register.filter
def is_checkbox(field) -> bool:
    """A single yes/no box (not a list of them, which renders as a group of choices)."""
    from django import forms

    return isinstance(field.field.widget, forms.CheckboxInput)


@register.filter
def action_label(code: str) -> str:
    """`kapflow.clients.chart.viewed` reads as "Chart viewed" on the audit page."""
    parts = code.split(".")
    if len(parts) < 3:
        return code
    thing, verb = parts[-2].replace("_", " "), parts[-1].replace("_", " ")
    return f"{thing.capitalize()} {verb}"


@register.filter
def problem_count(form) -> int:
    """How many problems a form that came back has: each message, not each field with messages
    (a refusal may add several to the form as a whole)."""
    return sum(len(errors) for errors in form.errors.values())
