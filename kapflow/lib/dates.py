import datetime

from django.utils import timezone


def long_date(value: datetime.date | datetime.datetime) -> str:
    """A date as the pages say it: "May 3, 2026". A moment is first put in the practice's time
    zone, so an evening entry is not dated tomorrow."""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date()
    return f"{value:%b} {value.day}, {value.year}"


def latest_moment(at: datetime.time | datetime.datetime, now: datetime.datetime) -> datetime.datetime:
    """A time of day typed on the runbook, as the latest such moment not after now (the
    practice's time zone): 21:30 typed at 10:00 is yesterday evening, and 23:50 typed at 00:05,
    in a session running past midnight, is five minutes after 11 last night. A moment is kept."""
    if isinstance(at, datetime.datetime):
        return at
    moment = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), at))
    if moment > now + datetime.timedelta(minutes=1):
        moment -= datetime.timedelta(days=1)
    return moment
