"""The project's form renderer (settings.FORM_RENDERER): Django's template renderer, except that
the plain widgets (text, number, email, date and other inputs, check boxes, text areas, selects,
radio buttons and check box lists) are written in Python, to the character as Django's own widget
templates write them.

Why: a widget rendered through its template costs a template lookup, a context and an include of
`attrs.html` (and, for a select, an include per option): a few hundred microseconds a field. The
practice settings form has sixty fields, the audit page's filters offer every action and every
member of staff, and the runbook holds a dozen forms; those templates were a large part of their
pages' time. Rendering every form afresh this way keeps its HTML exactly what its current
initial values, labels and help texts make it (nothing is kept between requests).

The markup is not ours to change: `tests/test_widget_rendering.py` renders each widget kind, with
generated names, values, attributes and choices, and kapflow's forms, both with this renderer and
with Django's, and requires the same HTML; it also checks that the templates this renderer
replaces are Django's own files (a template of ours overriding one would be shown by Django and
not here). A Django upgrade that changes a widget template fails there rather than on a page.
Radio buttons and check box lists are written too; anything else (files, multiple widgets, a
widget or an option with its own template, a form's or a field's template) is left to the
templates.

Django makes one instance of the renderer per process (forms.renderers.get_default_renderer is
cached), so its template engine, for what it leaves to the templates, is built once."""

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
    if isinstance(value, tuple):
        value = str(value)  # as the filter does (Django 5.x), rather than format its items
    try:
        # The filter's own expression: a value whose formatting fails writes nothing.
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


# The options of radio buttons and check box lists: input_option.html, through the two templates
# that are exactly an include of it (and end with a line break of their own).
_INPUT_OPTIONS = {f"{_WIDGETS}radio_option.html", f"{_WIDGETS}checkbox_option.html"}


def _input_option(option: dict) -> str:
    """django/forms/widgets/input_option.html (its input.html ends with a line break), for a
    label that wraps its input (an unwrapped one is left to the template: _unusual)."""
    id_ = option["attrs"].get("id")
    label_for = f' for="{_text(id_)}"' if id_ else ""
    return f"<label{label_for}>{_input(option)}\n {_text(option['label'])}</label>\n\n"


def _multiple_input(widget: dict) -> str | None:
    """django/forms/widgets/multiple_input.html (radio.html and checkbox_select.html)."""
    id_, css = widget["attrs"].get("id"), widget["attrs"].get("class")
    parts = ["<div", f' id="{_text(id_)}"' if id_ else "", f' class="{_text(css)}"' if css else "", ">"]
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f"\n  <div><label>{_text(group_name)}</label>")
        for option in options:
            if option["template_name"] not in _INPUT_OPTIONS:
                return None
            parts.append(f"<div>\n    {_input_option(option)}</div>")
        if group_name:
            parts.append("\n  </div>")
    parts.append("\n</div>")
    return "".join(parts)


_WRITERS = {
    **dict.fromkeys(_INPUTS, _input),
    f"{_WIDGETS}textarea.html": _textarea,
    f"{_WIDGETS}select.html": _select,
    f"{_WIDGETS}radio.html": _multiple_input,
    f"{_WIDGETS}checkbox_select.html": _multiple_input,
}


def _unusual(widget: dict) -> bool:
    """What only Django's templates write as Django writes it, left to them: an attribute whose
    value is callable (a template calls it), an attribute named "items" (it shadows the dict's
    method in the template's loop), an option whose label is not wrapped, or a callable label.
    None of kapflow's widgets has these; the templates then answer for them."""

    def odd(attrs: dict) -> bool:
        return "items" in attrs or any(callable(value) for value in attrs.values())

    if odd(widget.get("attrs", {})) or callable(widget.get("value")):
        return True
    for _group, options, _index in widget.get("optgroups", ()):
        for option in options:
            if odd(option["attrs"]) or not option.get("wrap_label", True) or callable(option["label"]):
                return True
    return False


class PlainWidgets(DjangoTemplates):
    """Django's template renderer, with the plain widgets written in Python (above)."""

    def render(self, template_name, context, request=None):
        write = _WRITERS.get(template_name)
        widget = context.get("widget")
        plain = write is not None and widget is not None and not _unusual(widget)
        written = write(widget) if plain else None
        if written is None:
            return super().render(template_name, context, request=request)
        return written.strip()
