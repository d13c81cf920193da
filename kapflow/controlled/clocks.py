"""The controlled-substance record's dates (docs/inventory.md), as pure functions of dates and
the practice's settings: when the next inventory is due, and when a theft or significant loss
must be told to the DEA. No database, no clock: the caller gives today.

Business days are Monday to Friday. kapflow does not know public holidays (federal or state);
a notice due on a holiday is shown as due that day, which is the safe side."""

import datetime

SATURDAY = 5  # date.weekday(): Monday is 0


def is_business_day(day: datetime.date) -> bool:
    return day.weekday() < SATURDAY


def business_days_after(day: datetime.date, count: int) -> datetime.date:
    """The `count`th business day after `day` (Monday to Friday): a theft found on a Friday
    with one business day to tell the DEA is due on the Monday; found on a Saturday, also on
    the Monday. `count` 0 is `day` itself."""
    due = day
    left = count
    while left > 0:
        due += datetime.timedelta(days=1)
        if is_business_day(due):
            left -= 1
    return due


def notice_due_on(discovered_on: datetime.date, business_days: int) -> datetime.date:
    """The last day for the written notice to the DEA Field Division Office (21 CFR
    1301.76(b)): `business_days` business days after the discovery (the practice's
    loss_notice_business_days)."""
    return business_days_after(discovered_on, business_days)


def form_due_on(discovered_on: datetime.date, days: int) -> datetime.date:
    """The last day for DEA Form 106 (88 FR 40707): `days` calendar days after the discovery
    (the practice's loss_form_days)."""
    return discovered_on + datetime.timedelta(days=days)


def next_inventory_due(last_taken_on: datetime.date) -> datetime.date:
    """The day the next inventory is due at the latest (21 CFR 1304.11(c): at least every two
    years): the same calendar day two years on. An inventory of 29 February is due again on
    28 February, the last day of that month, so that it is never late."""
    try:
        return last_taken_on.replace(year=last_taken_on.year + 2)
    except ValueError:  # 29 February, two years on, does not exist
        return last_taken_on.replace(year=last_taken_on.year + 2, day=28)


def inventory_reminder_on(due_on: datetime.date, reminder_days: int) -> datetime.date:
    """The day the registrant and admins are first reminded of the inventory due on `due_on`
    (the practice's inventory_reminder_days before it)."""
    return due_on - datetime.timedelta(days=reminder_days)


def days_left(due_on: datetime.date, today: datetime.date) -> int:
    """Days from today to the day something is due: 0 on the day, negative once overdue."""
    return (due_on - today).days


def days_text(due_on: datetime.date, today: datetime.date) -> str:
    """ "due today", "3 days left", "2 days overdue": for the pages."""
    left = days_left(due_on, today)
    if left == 0:
        return "due today"
    if left > 0:
        return f"{left} day{'s' if left != 1 else ''} left"
    return f"{-left} day{'s' if left != -1 else ''} overdue"
