"""What every page pays for before its own work: the practice's settings row and the main menu.
Both are made cheaper by keeping what does not change (the row's SELECT, the menu's HTML); these
tests prove that nothing that does change is kept."""

import re

import pytest
from django.template import engines
from django.test import RequestFactory
from django.urls import clear_script_prefix, reverse, set_script_prefix

from kapflow.lib.rows import read_by_pk
from kapflow.practice.models import Practice
from tests import factories

pytestmark = pytest.mark.django_db


def _values(practice):
    return {field.attname: getattr(practice, field.attname) for field in Practice._meta.concrete_fields}


def test_the_practice_row_is_read_afresh_each_time_with_the_values_the_orm_reads(tess):
    Practice.load()  # made with its defaults on first use
    Practice.objects.filter(pk=1).update(name="Second Light", on_call_prescriber=tess)
    loaded = Practice.load()
    assert (loaded.name, loaded.on_call_prescriber_id) == ("Second Light", tess.pk)
    # Every column, with the database's types converted as the ORM converts them (decimals,
    # dates and times, booleans, the foreign key).
    assert _values(loaded) == _values(Practice.objects.get(pk=1))
    assert not loaded._state.adding and loaded._state.db == "default"
    Practice.objects.filter(pk=1).update(name="Third Light")
    assert Practice.load().name == "Third Light"


def test_a_row_is_read_in_one_query_and_a_missing_one_is_none(django_assert_num_queries):
    Practice.load()
    with django_assert_num_queries(1):
        Practice.load()
    assert read_by_pk(Practice, 424242) is None


def test_a_migrated_database_has_the_practice_row_before_anyone_asks():
    """Made by a migration, so that a new installation's first requests do not race to insert
    it (two at once deadlocked on PostgreSQL)."""
    practice = Practice.objects.get(pk=1)
    assert practice.name == Practice._meta.get_field("name").default


def test_a_flushed_database_gets_the_practice_row_back():
    """Django's flush (after every test that commits) sends post_migrate: the practice app's
    handler puts the row back, as a new database has it."""
    from django.apps import apps

    from kapflow.practice.apps import _the_practice_row

    Practice.objects.all().delete()
    _the_practice_row(sender=apps.get_app_config("practice"))
    assert Practice.objects.get(pk=1).name == Practice._meta.get_field("name").default


def test_the_practice_is_made_with_its_defaults_when_there_is_none():
    Practice.objects.all().delete()
    assert Practice.load().name == Practice._meta.get_field("name").default
    assert Practice.objects.count() == 1


MENUS = {
    "ada": [
        "Today",
        "Clients",
        "Calendar",
        "Controlled substances",
        "Outcomes",
        "Inquiries",
        "Billing",
        "Staff",
        "Consent forms",
        "Audit log",
        "Reminders",
        "Settings",
    ],
    "tess": ["Today", "Clients", "Calendar", "Outcomes"],
    "priya": ["Today", "Clients", "Calendar", "Controlled substances", "Outcomes"],
    "cora": ["Today", "Clients", "Calendar", "Inquiries", "Billing"],
}


def _menu(html: str) -> tuple[list[str], list[str], list[str]]:
    """The menu's entries, their links and the entries marked as the current page."""
    nav = re.search(r'<ul class="nav">(.*?)</ul>', html, re.S).group(1)
    entries = re.findall(r'<li><a href="([^"]*)"( aria-current="page")?>([^<]*)</a></li>', nav)
    return (
        [words for _, _, words in entries],
        [href for href, _, _ in entries],
        [words for _, current, words in entries if current],
    )


@pytest.mark.parametrize("who", MENUS)
def test_each_role_sees_its_menu_with_the_page_it_is_on_marked(who, login):
    user = factories.make_persona(who)
    http = login(user)
    words, links, current = _menu(http.get("/").content.decode())
    assert (words, current) == (MENUS[who], ["Today"])
    # The same menu on another page, with that page's entry marked, and each link opens.
    words, links, current = _menu(http.get(reverse("calendar:week")).content.decode())
    assert (words, current) == (MENUS[who], ["Calendar"])
    assert all(http.get(link).status_code == 200 for link in links)


def test_an_outside_prescriber_is_offered_today_alone(login):
    outside = factories.make_user("Oscar Outside", roles=("is_prescriber", "outside_practice"))
    assert _menu(login(outside).get("/").content.decode())[0] == ["Today"]


def test_a_page_of_a_section_marks_its_entry_and_a_page_of_none_marks_nothing(ada, avery, login):
    http = login(ada)
    # A client's billing pages belong to Billing, whatever app answers them.
    account = http.get(reverse("client_billing:account", args=[avery.pk]))
    assert _menu(account.content.decode())[2] == ["Billing"]
    assert _menu(http.get(reverse("audit_log")).content.decode())[2] == ["Audit log"]
    assert _menu(http.get(reverse("mfa_index")).content.decode())[2] == []


def test_the_menu_follows_the_sites_url_prefix(tess):
    """Kept menus are kept per URL prefix: a site served under a path links under it."""
    template = engines["django"].from_string("{% load kapflow %}{% main_nav %}")
    request = RequestFactory().get("/")
    request.user = tess
    set_script_prefix("/kap/")
    try:
        _words, links, _current = _menu(template.render({"user": tess}, request))
    finally:
        clear_script_prefix()
    assert links and all(link.startswith("/kap/") for link in links)
    _words, links, _current = _menu(template.render({"user": tess}, request))
    assert links and not any(link.startswith("/kap/") for link in links)
