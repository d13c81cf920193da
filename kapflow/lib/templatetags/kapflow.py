import functools

from django import template
from django.urls import get_script_prefix, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from kapflow.lib import field_rows as rows
from kapflow.lib import text

register = template.Library()


@register.filter
def described(field):
    """Render a form field's widget tied to its help text and its errors for screen readers."""
    return rows.described(field)


@register.simple_tag(takes_context=True)
def field_rows(context, fields, **flags):
    """`{% for field in fields %}{% include "includes/_field.html" with ... %}{% endfor %}`,
    written in Python (kapflow.lib.field_rows). `fields`: a form, or a list of some of its
    fields; `flags`: search, nooptional or nohelp, which win over the context's, as `with` does."""
    if unknown := set(flags) - set(rows.FLAGS):
        raise TypeError(f"field_rows takes no {', '.join(sorted(unknown))}")
    return rows.field_rows(fields, **{name: bool(flags.get(name, context.get(name))) for name in rows.FLAGS})


@register.filter
def mid_sentence(label: str) -> str:
    """A label set inside a sentence: its first letter small, its acronyms kept (kapflow.lib.text)."""
    return text.mid_sentence(str(label))


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


# The staff's main menu (base.html): each entry's words, its URL's name, who sees it, and where
# it is the current page (the URL names' app, or one URL name). Read by main_nav.
def _everyone(user) -> bool:
    return True


def _inside(user) -> bool:
    # An invited outside prescriber's pages all start from Today (docs/access.md).
    return not user.outside_practice


def _stock_keeper(user) -> bool:
    # kapflow.controlled.ledger.can_keep_stock (an outside prescriber is left out above).
    return not user.outside_practice and (user.is_practice_admin or user.is_prescriber)


def _outcomes_reader(user) -> bool:
    return user.is_practice_admin or (user.is_clinician and not user.outside_practice)


def _front_desk(user) -> bool:
    # kapflow.billing.access.can_bill, and the inquiries inbox.
    return user.is_coordinator or user.is_practice_admin


def _admin(user) -> bool:
    return user.is_practice_admin


MAIN_NAV = (
    ("Today", "home", _everyone, {"url_name": "home"}),
    ("Clients", "clients:caseload", _inside, {"app_name": ("clients",)}),
    ("Calendar", "calendar:week", _inside, {"app_name": ("calendar",)}),
    ("Controlled substances", "controlled:stock", _stock_keeper, {"app_name": ("controlled",)}),
    ("Outcomes", "outcomes:report", _outcomes_reader, {"app_name": ("outcomes",)}),
    ("Inquiries", "inquiries:inbox", _front_desk, {"app_name": ("inquiries",)}),
    ("Billing", "billing:overview", _front_desk, {"app_name": ("billing", "client_billing")}),
    ("Staff", "accounts:staff", _admin, {"app_name": ("accounts",)}),
    ("Consent forms", "consent_documents:list", _admin, {"app_name": ("consent_documents",)}),
    ("Audit log", "audit_log", _admin, {"url_name": "audit_log"}),
    ("Reminders", "reminders:list", _admin, {"app_name": ("reminders",)}),
    ("Settings", "practice_settings", _admin, {"url_name": "practice_settings"}),
)


def _is_current(where: dict, match) -> bool:
    if match is None:
        return False
    if "url_name" in where:
        return match.url_name == where["url_name"]
    return match.app_name in where["app_name"]


@register.simple_tag(takes_context=True)
def main_nav(context):
    """The staff's main menu: the entries the user's roles open, the current page's marked with
    aria-current. The same dozen links on every page: each user's menu is built once per process
    for each page it can be current on, not a `url` tag per link per request (about a
    millisecond a page, as much as the whole bare request in bench/)."""
    request, user = context["request"], context["user"]
    shown = tuple(index for index, (_, _, sees, _) in enumerate(MAIN_NAV) if sees(user))
    match = getattr(request, "resolver_match", None)
    current = next((index for index in shown if _is_current(MAIN_NAV[index][3], match)), None)
    return _main_nav(get_script_prefix(), shown, current)


@functools.lru_cache(maxsize=512)
def _main_nav(prefix: str, shown: tuple[int, ...], current: int | None) -> str:
    """The menu's HTML for these entries (`prefix`: the site's URL prefix, which reverse uses)."""
    marked = mark_safe(' aria-current="page"')
    items = format_html_join(
        "\n",
        '<li><a href="{}"{}>{}</a></li>',
        ((reverse(MAIN_NAV[i][1]), marked if i == current else "", MAIN_NAV[i][0]) for i in shown),
    )
    return format_html('<ul class="nav">\n{}\n</ul>', items)
