"""The controlled-substance record's dates (kapflow.controlled.clocks, docs/inventory.md): the
biennial inventory's due day, the business-day notice of a theft or loss, and Form 106's day.
Pure functions: no database."""

import datetime

import pytest

from kapflow.controlled import clocks

D = datetime.date


@pytest.mark.parametrize(
    ("last", "due"),
    [
        (D(2026, 3, 14), D(2028, 3, 14)),
        (D(2024, 2, 29), D(2026, 2, 28)),  # no 29 February in 2026: the last day of February
        (D(2026, 2, 28), D(2028, 2, 28)),  # not moved to the 29th of a leap year
        (D(2027, 12, 31), D(2029, 12, 31)),
    ],
)
def test_it_puts_the_next_inventory_two_years_on_the_same_calendar_day(last, due):
    assert clocks.next_inventory_due(last) == due


def test_it_reminds_of_the_inventory_the_practice_s_days_before_it_is_due():
    assert clocks.inventory_reminder_on(D(2028, 3, 14), 30) == D(2028, 2, 13)
    assert clocks.inventory_reminder_on(D(2028, 3, 14), 0) == D(2028, 3, 14)


@pytest.mark.parametrize(
    ("found", "days", "due"),
    [
        (D(2026, 12, 3), 1, D(2026, 12, 4)),  # Thursday -> Friday
        (D(2026, 12, 4), 1, D(2026, 12, 7)),  # Friday -> Monday, over the weekend
        (D(2026, 12, 5), 1, D(2026, 12, 7)),  # found on a Saturday -> Monday
        (D(2026, 12, 6), 1, D(2026, 12, 7)),  # found on a Sunday -> Monday
        (D(2026, 12, 4), 2, D(2026, 12, 8)),
        (D(2026, 12, 4), 0, D(2026, 12, 4)),
        (D(2026, 12, 31), 1, D(2027, 1, 1)),  # public holidays are not known: New Year's Day counts
    ],
)
def test_the_notice_is_due_a_number_of_business_days_after_the_discovery(found, days, due):
    assert clocks.notice_due_on(found, days) == due


def test_form_106_is_due_calendar_days_after_the_discovery():
    assert clocks.form_due_on(D(2026, 12, 4), 45) == D(2027, 1, 18)


def test_it_says_how_long_is_left_in_words():
    today = D(2026, 12, 5)
    assert clocks.days_left(D(2026, 12, 8), today) == 3
    assert clocks.days_text(D(2026, 12, 8), today) == "3 days left"
    assert clocks.days_text(D(2026, 12, 6), today) == "1 day left"
    assert clocks.days_text(today, today) == "due today"
    assert clocks.days_text(D(2026, 12, 4), today) == "1 day overdue"
    assert clocks.days_text(D(2026, 12, 1), today) == "4 days overdue"
