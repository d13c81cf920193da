"""`{{ amount|money }}`: a Decimal amount as kapflow prints money ("$1,234.50"), through
kapflow.billing.services.money, for the billing pages."""

from decimal import Decimal

from django import template

from kapflow.billing.services import money as _money

register = template.Library()


@register.filter
def money(amount) -> str:
    if amount is None or amount == "":
        return ""
    return _money(Decimal(amount))


@register.filter
def iso_day(value) -> str:
    """A day saved as text "YYYY-MM-DD" (a Good Faith Estimate's `content`) as the pages show a
    day ("Dec 5, 2026"); anything else as it is."""
    import datetime

    try:
        day = datetime.date.fromisoformat(str(value))
    except ValueError:
        return value
    return f"{day:%b} {day.day}, {day.year}"
