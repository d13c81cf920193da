from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from kapflow.consent.categories import describe
from kapflow.consent.gates import gate_from_status
from kapflow.consent.selectors import consent_status

register = template.Library()


def _groups(block: str) -> list[tuple[str, list[str]]]:
    """A block's lines as runs: ("h", [heading]), ("ul", items) or ("p", lines)."""
    groups: list[tuple[str, list[str]]] = []
    for line in (line.strip() for line in block.split("\n")):
        if not line:
            continue
        if line.startswith("## "):
            groups.append(("h", [line[3:]]))
            continue
        kind, text = ("ul", line[2:]) if line.startswith("- ") else ("p", line)
        if groups and groups[-1][0] == kind:
            groups[-1][1].append(text)
        else:
            groups.append((kind, [text]))
    return groups


@register.filter
def consent_text(body: str, level: int = 3):
    """A document's plain text as HTML: a blank line starts a paragraph, a line starting with
    "## " is a heading (an <h3>, or <h`level`> where the document's title is the page's <h1>),
    and lines starting with "- " make a list."""
    heading = f"h{int(level)}"
    html = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        for kind, lines in _groups(block):
            if kind == "h":
                html.append(f"<{heading}>{escape(lines[0])}</{heading}>")
            elif kind == "ul":
                html.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>")
            else:
                html.append("<p>" + "<br>".join(escape(line) for line in lines) + "</p>")
    return mark_safe("".join(html))  # noqa: S308 — every piece of text above is escaped


@register.simple_tag(takes_context=True)
def consent_summary(context, client, virtual=False):
    """For the chart's consent card: {% consent_summary client as consent %} gives the status
    (`consent.status`) and the gate's answer (`consent.gate`) for an in-person session, or a
    virtual one when `virtual` is true. A view that already read the client's status in this
    request (the chart, for its readiness panel) passes it as `consent_status` (read with
    virtual=False, as the readiness gate reads it), and the card shows that one rather than
    reading it again."""
    status = None if virtual else context.get("consent_status")
    if status is None or status.client.pk != client.pk:
        status = consent_status(client, virtual=virtual)
    return {"status": status, "gate": gate_from_status(status, virtual=virtual)}


@register.filter
def release_categories(categories) -> list[str]:
    """A release's categories in words (kapflow.consent.categories.describe)."""
    return describe(categories or [])
