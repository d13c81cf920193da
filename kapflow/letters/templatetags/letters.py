"""Template filters of the letters' PDF (letters/pdf.html)."""

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

# What is written as a CSS escape inside a quoted CSS string: the backslash and both quotes
# (which would end or bend the string), "<" (so "</style>" cannot appear in the style sheet),
# and "&" and ">" for good measure. Control characters, line breaks among them, are escaped too.
_CSS_ESCAPED = frozenset("\\\"'<>&")


def _css_char(char: str) -> str:
    if char in _CSS_ESCAPED or ord(char) < 0x20 or ord(char) == 0x7F:
        # A hex escape ends at the space after it, which CSS then drops (CSS Syntax 3, 4.3.7).
        return f"\\{ord(char):x} "
    return char


@register.filter(is_safe=True)
def css_string(value) -> str:
    """`value` escaped for use inside a quoted CSS string, such as a page footer's `content: "…"`:
    "O'Brien & Sons" prints as written. Marked safe: HTML escaping does not apply inside <style>."""
    escaped = "".join(_css_char(char) for char in str(value))
    return mark_safe(escaped)  # noqa: S308 — every character that could end the string or the style is escaped
