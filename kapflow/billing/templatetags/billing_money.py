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
