import datetime

from django.utils import timezone


def long_date(value: datetime.date | datetime.datetime) -> str:
    """A date as the pages say it: "May 3, 2026". A moment is first put in the practice's time
    zone, so an evening entry is not dated tomorrow."""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date()
    return f"{value:%b} {value.day}, {value.year}"
