"""The calendars' loops, written out here rather than in templates: {% grid_column column %}
(a column of the time grid: its heading, each visit's block, `visit_block`, and the "+N"
links, `more_link`), {% month_day day who %} (one day of the month) and {% clinician_options %}
(the "Whose" menu). A busy practice's week has hundreds of blocks and its month dozens of days
with their visits, and these are the pages' loops that grow with them; in template tags and
filters they cost more than the pages' queries."""

from html import escape as _escape
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.safestring import SafeString, mark_safe

from kapflow.visits.models import Visit

register = template.Library()


def escape(value) -> str:
    """django.utils.html.escape without its check for lazy text (none here), which cost as much
    as the escaping over a page of blocks: the same characters, escaped the same way."""
    return _escape(str(value))


# Numbers no visit or client has, put in a URL to find where the real ones go (_paths).
_CLIENT, _VISIT = 918273645, 546372819


def _paths(context) -> dict[str, tuple[str, str, str]]:
    """The visit's page and its check-in as (before, between, after) the client's and the
    visit's numbers: reversed once a page rather than for each of its hundred blocks, where
    reverse() cost more than the rest of the block."""
    paths = context.render_context.get("calendar_grid_paths")
    if paths is None:
        paths = context.render_context["calendar_grid_paths"] = {}
        for name in ("visits:detail", "visits:check_in"):
            before, rest = reverse(name, args=[_CLIENT, _VISIT]).split(str(_CLIENT), 1)
            between, after = rest.split(str(_VISIT), 1)
            paths[name] = (before, between, after)
    return paths


def _once(context, key: str, value):
    """`value()`, worked out once a page (today's day view has a check-in form in every block)."""
    key = f"calendar_grid_{key}"
    if key not in context.render_context:
        context.render_context[key] = value()
    return context.render_context[key]


def _path(paths, name: str, visit) -> str:
    before, between, after = paths[name]
    return f"{before}{visit.client_id}{between}{visit.pk}{after}"


class _Page:
    """What every block of a page shares, worked out once a page (_page): the paths, what the page
    shows beside the client, and each text a block writes already escaped. Hundreds of blocks
    repeat a few dozen times, kinds, clinicians, rooms and statuses, and escaping, formatting a
    time or naming a status for each block again was most of the blocks' cost."""

    def __init__(self, context):
        self.paths = _paths(context)
        self.show_clinician = bool(context.get("show_clinician"))
        self.show_place = bool(context.get("show_place"))
        self.day_view = context.get("view") == "day"
        self.escaped: dict[str, str] = {}
        self.times: dict[tuple, str] = {}
        self.statuses: dict[str, str] = {}

    def escape(self, text: str) -> str:
        """escape(text), kept for the texts the page repeats (not for its paths, each its own)."""
        try:
            return self.escaped[text]
        except KeyError:
            done = self.escaped[text] = escape(text)
            return done

    def when(self, block, visit) -> str:
        key = (block.from_before, visit.local_start, visit.local_end)
        try:
            return self.times[key]
        except KeyError:
            text = f"{'…' if block.from_before else ''}{visit.local_start:%H:%M}–{visit.local_end:%H:%M}"
            done = self.times[key] = escape(text)
            return done

    def status(self, visit) -> str:
        try:
            return self.statuses[visit.status]
        except KeyError:
            done = self.statuses[visit.status] = escape(visit.get_status_display())
            return done


def _page(context) -> _Page:
    page = context.render_context.get("calendar_grid_page")
    if page is None:
        page = context.render_context["calendar_grid_page"] = _Page(context)
    return page


def visit_block(context, block, column) -> SafeString:
    """The block: what is on (kind, client's short name or "Busy" for a client the viewer may
    not see, the clinician or the room as the page needs), a conflict in words, the status, a
    check-in on today's day view, and the place of its readiness badge. Built as one string, each
    value escaped: format_html for each part cost as much as the rest of the page."""
    visit = block.visit
    page = _page(context)
    classes = f"ev {block.place} k-{visit.kind} st-{visit.status}"
    if block.conflict:
        classes += " cf"
    if block.short:
        classes += " ev--short"
    parts = [f'<div class="{page.escape(classes)}">']
    if block.conflict:
        shared = page.escape(f"same {' and '.join(block.conflict)}")
        parts.append(
            f'<strong class="ev-cf" title="Conflict: {shared}">Conflict'
            f'<span class="visually-hidden">: {shared}</span></strong> '
        )
    when = page.when(block, visit)
    if visit.visible:
        parts.append(
            f'<a class="ev-a" href="{escape(_path(page.paths, "visits:detail", visit))}"><b>{when}</b> '
            f'{page.escape(block.kind)}</a> <span class="ev-n">{page.escape(visit.short_name)}</span>'
        )
    else:
        parts.append(f'<span class="ev-a"><b>{when}</b> Busy</span>')
    meta = []
    if page.show_clinician:
        meta.append(visit.clinician_name)
    if page.show_place:
        meta.append(visit.place_name)
    if meta:
        parts.append(f' <span class="ev-m">{page.escape(" · ".join(meta))}</span>')
    if visit.status != Visit.Status.SCHEDULED:
        parts.append(f' <span class="ev-st">{page.status(visit)}</span>')
    elif page.day_view and visit.visible and column.today:
        check_in = escape(_path(page.paths, "visits:check_in", visit))
        parts.append(
            f' <form method="post" action="{check_in}" class="inline">'
            '<input type="hidden" name="csrfmiddlewaretoken" '
            f'value="{_once(context, "csrf", lambda: escape(context.get("csrf_token", "")))}">'
            '<input type="hidden" name="next" '
            f'value="{_once(context, "next", lambda: escape(context["request"].get_full_path()))}">'
            '<button type="submit" class="button--small">Check in</button></form>'
        )
    if block.badge:
        parts.append(f' <span id="rb-{escape(visit.pk)}" class="ev-rb"></span>')
    parts.append("</div>")
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped


def more_link(more, column) -> SafeString:
    """The count of the visits of an hour that do not fit side by side, linking to the day;
    "in conflict" if any of them clashes."""
    if more.conflict:
        return mark_safe(  # noqa: S308 — every value is escaped
            f'<a class="ev-more cf {escape(more.place)}" href="{escape(column.link)}">'
            f"+{escape(more.count)} more, <strong>in conflict</strong></a>"
        )
    return mark_safe(  # noqa: S308 — every value is escaped
        f'<a class="ev-more {escape(more.place)}" href="{escape(column.link)}">+{escape(more.count)} more</a>'
    )


@register.simple_tag(takes_context=True)
def grid_column(context, column) -> SafeString:
    """A column of the time grid: its heading (linking to its day, or to its clinician's or
    room's day on the practice's day), then its blocks, each on its line, and its "+N" links. One
    tag for the column rather than one for each of its blocks (the practice's day has two dozen
    columns)."""
    days = context.get("columns_are_days")
    today = column.today and days
    label = escape(column.label)
    if days or (column.key != "video" and column.link):
        label = f'<a href="{escape(column.link)}">{label}</a>'
    blocks = "".join(f"{visit_block(context, block, column)}\n" for block in column.blocks)
    more = "".join(more_link(more, column) for more in column.more)
    marked = ' <span class="visually-hidden">(today)</span>' if today else ""
    today_class = " tg-today" if today else ""
    return mark_safe(  # noqa: S308 — every value is escaped, here and in visit_block and more_link
        f'<h2 class="tg-head{today_class}">{label}{marked}</h2>\n'
        f'<div class="tg-col rows-{escape(context["grid"].hours)}{today_class}">\n{blocks}{more}\n</div>'
    )


@register.simple_tag(takes_context=True)
def month_day(context, day, who_key) -> SafeString:
    """One day of the month: its date linking to its day view, its count of visits, its first
    few (the client's short name, or "Busy" for a client the viewer may not see) and "+N more".
    Written out here for the same reason as visit_block: the month is some 35 days, each with a
    few visits, and the template's tags and filters cost more than the page's queries."""
    page = context.render_context.get("calendar_grid_month")
    if page is None:  # once a page: the day view's address, the names of days and months, the zone
        page = context.render_context["calendar_grid_month"] = (
            reverse("calendar:day"),
            [str(name) for _, name in sorted(WEEKDAYS.items())],
            {number: str(name) for number, name in MONTHS.items()},
            timezone.get_current_timezone(),
        )
    day_url, weekdays, months, zone = page
    classes = ("" if day.in_month else "m-out") + (" m-today" if day.today else "")
    link = escape(f"{day_url}?who={quote(who_key, safe='/')}&on={day.day:%Y-%m-%d}")
    # As the date filter's "l, F j" says it (in the language of the page).
    label = escape(f"{weekdays[day.day.weekday()]}, {months[day.day.month]} {day.day.day}")
    head = f'<td class="{classes}"><a class="m-date" href="{link}" aria-label="{label}'
    if not day.count:
        return mark_safe(f'{head}">{day.day.day}</a></td>')  # noqa: S308 — every value is escaped
    visits = f"{day.count} visit{'' if day.count == 1 else 's'}"
    parts = [f'{head}: {visits}">{day.day.day}</a> <span class="m-count">{visits}</span><ul class="m-list">']
    for visit in day.listed:
        name = escape(visit.short_name) if visit.visible else "Busy"
        parts.append(
            f'<li class="k-{escape(visit.kind)}"><b>{visit.starts_at.astimezone(zone):%H:%M}</b> {name}</li>'
        )
    parts.append("</ul>")
    if day.more > 0:
        parts.append(f'<a class="m-more" href="{link}">+{day.more} more</a>')
    parts.append("</td>")
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped


@register.simple_tag(takes_context=True)
def clinician_options(context, clinicians, who) -> SafeString:
    """The "Whose" menu's clinicians, the one shown selected and the viewer marked "(me)": a
    practice's two dozen, each compared in a template with the viewer (a lazy object) cost as
    much as a month of visits."""
    shown = who.person.pk if who.person is not None else None
    me = context["request"].user.pk
    return mark_safe(  # noqa: S308 — every value is escaped
        "".join(
            f'<option value="{escape(clinician.pk)}"{" selected" if clinician.pk == shown else ""}>'
            f"{escape(clinician.full_name)}{' (me)' if clinician.pk == me else ''}</option>"
            for clinician in clinicians
        )
    )
