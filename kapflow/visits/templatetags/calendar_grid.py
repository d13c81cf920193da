"""{% visit_block block column %}: one visit of the calendar's time grid. Written out here rather
than in a template: a busy practice's week has hundreds of blocks, and this is the page's one
loop that grows with them."""

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from kapflow.visits.models import Visit

register = template.Library()


def _clock(moment) -> str:
    return f"{timezone.localtime(moment):%H:%M}"


@register.simple_tag(takes_context=True)
def visit_block(context, block, column) -> SafeString:
    """The block: what is on (kind, client's short name or "Busy" for a client the viewer may
    not see, the clinician or the room as the page needs), a conflict in words, the status, a
    check-in on today's day view, and the place of its readiness badge."""
    visit = block.visit
    classes = [f"ev {block.place} k-{visit.kind} st-{visit.status}"]
    if block.conflict:
        classes.append("cf")
    if block.short:
        classes.append("ev--short")
    parts = []
    if block.conflict:
        shared = f"same {' and '.join(block.conflict)}"
        parts.append(
            format_html(
                '<strong class="ev-cf" title="Conflict: {}">Conflict<span class="visually-hidden">: {}</span>'
                "</strong> ",
                shared,
                shared,
            )
        )
    when = f"{'…' if block.from_before else ''}{_clock(visit.starts_at)}–{_clock(visit.ends_at)}"
    if visit.visible:
        parts.append(
            format_html(
                '<a class="ev-a" href="{}"><b>{}</b> {}</a> <span class="ev-n">{}</span>',
                reverse("visits:detail", args=[visit.client_id, visit.pk]),
                when,
                block.kind,
                visit.short_name,
            )
        )
    else:
        parts.append(format_html('<span class="ev-a"><b>{}</b> Busy</span>', when))
    meta = []
    if context.get("show_clinician"):
        meta.append(visit.clinician.full_name)
    if context.get("show_place"):
        meta.append(visit.place)
    if meta:
        parts.append(format_html(' <span class="ev-m">{}</span>', " · ".join(meta)))
    if visit.status != Visit.Status.SCHEDULED:
        parts.append(format_html(' <span class="ev-st">{}</span>', visit.get_status_display()))
    elif context.get("view") == "day" and visit.visible and column.today:
        parts.append(
            format_html(
                ' <form method="post" action="{}" class="inline">'
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
                '<input type="hidden" name="next" value="{}">'
                '<button type="submit" class="button--small">Check in</button></form>',
                reverse("visits:check_in", args=[visit.client_id, visit.pk]),
                str(context.get("csrf_token", "")),
                context["request"].get_full_path(),
            )
        )
    if block.badge:
        parts.append(format_html(' <span id="rb-{}" class="ev-rb"></span>', visit.pk))
    return format_html(
        '<div class="{}">{}</div>', " ".join(classes), format_html_join("", "{}", ((p,) for p in parts))
    )


@register.simple_tag
def more_link(more, column) -> SafeString:
    """The count of the visits of an hour that do not fit side by side, linking to the day;
    "in conflict" if any of them clashes."""
    if more.conflict:
        return format_html(
            '<a class="ev-more cf {}" href="{}">+{} more, <strong>in conflict</strong></a>',
            more.place,
            column.link,
            more.count,
        )
    return format_html('<a class="ev-more {}" href="{}">+{} more</a>', more.place, column.link, more.count)
