"""A form renderer that writes Django's plain widgets (text, number, email, date and other
inputs, check boxes, text areas and selects) in Python, to the character as Django's own widget
templates write them, and leaves everything else to those templates.

Why: a widget rendered through its template costs a template lookup, a context and an include of
`attrs.html` (and, for a select, an include per option): a few hundred microseconds a field. The
practice settings form has sixty fields, and the audit page's filters offer every action and
every member of staff, so those templates were a large part of both pages' time. The markup is
not ours to change: `tests/test_settings_widgets.py` renders both forms with this renderer and with
Django's and requires the same HTML, so a Django upgrade that changes a widget template, or a
template of ours that overrides one (there is none), shows there rather than on the page.

Use it on a form class with `default_renderer = plain_widgets` (one instance: its template engine,
for what it leaves to the templates, is made once)."""

import html

from django.forms.renderers import DjangoTemplates
from django.utils import formats, timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData

_WIDGETS = "django/forms/widgets/"
# The widget templates that are exactly `{% include "django/forms/widgets/input.html" %}`.
_INPUTS = {
    f"{_WIDGETS}{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "url",
        "password",
        "hidden",
        "date",
        "datetime",
        "time",
        "search",
        "tel",
        "checkbox",
    )
}
_OPTION = f"{_WIDGETS}select_option.html"


def _text(value) -> str:
    """`{{ value }}`: localized, as text, escaped unless already HTML."""
    if type(value) is str:  # a plain string (not HTML, not lazy): localize leaves it as it is
        return html.escape(value)
    value = formats.localize(timezone.template_localtime(value))
    return conditional_escape(value if isinstance(value, str) else str(value))


def _format_s(value) -> str:
    """`{{ value|stringformat:'s' }}`."""
    try:
        # The filter's own expression: a tuple is an error there, and writes nothing.
        text = "%s" % value  # noqa: UP031
    except (TypeError, ValueError):
        text = ""
    return text if isinstance(value, SafeData) else html.escape(text)


def _attrs(attrs: dict) -> str:
    """django/forms/widgets/attrs.html."""
    return "".join(
        f" {_text(name)}" if value is True else f' {_text(name)}="{_format_s(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _input(widget: dict) -> str:
    value = "" if widget["value"] is None else f' value="{_format_s(widget["value"])}"'
    kind, name = _text(widget["type"]), _text(widget["name"])
    return f'<input type="{kind}" name="{name}"{value}{_attrs(widget["attrs"])}>'


def _textarea(widget: dict) -> str:
    value = _text(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


def _select(widget: dict) -> str | None:
    parts = [f'<select name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in options:
            if option["template_name"] != _OPTION:
                return None
            parts.append(
                f'\n  <option value="{_format_s(option["value"])}"{_attrs(option["attrs"])}>'
                f"{_text(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


_WRITERS = {
    **dict.fromkeys(_INPUTS, _input),
    f"{_WIDGETS}textarea.html": _textarea,
    f"{_WIDGETS}select.html": _select,
}


class PlainWidgets(DjangoTemplates):
    """Django's template renderer, with the plain widgets written in Python (above)."""

    def render(self, template_name, context, request=None):
        write = _WRITERS.get(template_name)
        written = write(context["widget"]) if write is not None and "widget" in context else None
        if written is None:
            return super().render(template_name, context, request=request)
        return written.strip()


plain_widgets = PlainWidgets()
