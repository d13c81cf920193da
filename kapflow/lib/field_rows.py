"""A form's fields as `includes/_field.html` writes them, written in Python (`{% field_rows form %}`).

Every form on a page is laid out by `includes/_fields.html`, which included `_field.html` once per
field: each include builds a context, looks the template up and walks its branches, about a
tenth of a millisecond a field before the widget itself. The runbook holds a dozen forms with
some fifty fields, and its template was two fifths of its page's time (bench/README.md). This
writes the same rows, to the character, with the widgets still written by the form renderer
(kapflow.lib.rendering).

`includes/_field.html` stays the one description of a field's row: pages that place a single
field include it, and `tests/test_field_rows.py` renders every field of kapflow's forms both ways
(blank, filled in and with errors, with each of the flags below) and requires the same HTML. A
change to the template fails there until this follows it.

The flags are the context variables `_field.html` reads: `search` and `nooptional` leave out
"(optional)", and `nohelp` leaves out the help text (not a check box's)."""

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

FLAGS = ("search", "nooptional", "nohelp")
OPTIONAL = mark_safe(' <span class="optional">(optional)</span>')


def described(field) -> SafeString:
    """A form field's widget tied to its help text and its errors for screen readers (the
    template filter `described`)."""
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}_helptext")
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    attrs = {"aria-describedby": " ".join(ids)} if ids else {}
    return field.as_widget(attrs=attrs)


def field_row(field, *, search=False, nooptional=False, nohelp=False) -> SafeString:
    """One field's row, as `{% include "includes/_field.html" %}` writes it."""
    if field.is_hidden:
        return format_html("\n{}\n", field)
    error = " field--error" if field.errors else ""
    errors = ""
    if field.errors:
        joined = format_html_join(" ", "{}", ((message,) for message in field.errors))
        errors = format_html('<p class="field-error" id="{}_error">{}</p>', field.auto_id, joined)
    widget = described(field)
    if isinstance(field.field.widget, forms.CheckboxInput):
        help_ = _help(field) if field.help_text else ""
        return format_html(
            '\n\n<div class="field field--check{}">\n  {}\n  <div class="check">{} <label for="{}">{}</label>'
            "</div>\n  {}\n</div>\n\n",
            error,
            errors,
            widget,
            field.id_for_label,
            field.label,
            help_,
        )
    optional = "" if field.field.required or search or nooptional else OPTIONAL
    help_ = _help(field) if field.help_text and not nohelp else ""
    if field.use_fieldset:
        return format_html(
            '\n\n<fieldset class="field field--group{}">\n  <legend>{}{}</legend>\n  {}\n  {}\n'
            '  <div class="control">{}</div>\n</fieldset>\n\n',
            error,
            field.label,
            optional,
            help_,
            errors,
            widget,
        )
    return format_html(
        '\n\n<div class="field{}">\n  <label for="{}">{}{}</label>\n  {}\n  {}\n'
        '  <div class="control">{}</div>\n</div>\n\n',
        error,
        field.id_for_label,
        field.label,
        optional,
        help_,
        errors,
        widget,
    )


def _help(field) -> SafeString:
    return format_html('<p class="help" id="{}_helptext">{}</p>', field.auto_id, field.help_text)


def field_rows(fields, **flags) -> SafeString:
    """Every field of `fields` (a form, or some of its bound fields), in order, as a loop of
    `_field.html` includes writes them."""
    return format_html_join("", "{}", ((field_row(field, **flags),) for field in fields))
