from django.urls import reverse

from kapflow.practice.forms import PracticeForm
from kapflow.practice.models import Practice


def settings_data(**changes):
    form = PracticeForm(instance=Practice.load())
    data = {name: form[name].value() for name in form.fields}
    data = {
        name: ("on" if value is True else "" if value in (False, None) else value)
        for name, value in data.items()
    }
    return {**data, **changes}


def test_every_clinical_default_is_shown_with_its_source(login, ada):
    html = login(ada).get(reverse("practice_settings")).content.decode()
    for source in (
        "Spravato label",
        "Spravato REMS",
        "Krupitsky 2002",
        "APA consensus 2017",
        "Wolfson",
        "Journey Clinical and Mindbloom",
        "seed 002",
        "practice default, conservative",
    ):
        assert source in html, source
    assert 'value="140"' in html and 'value="120"' in html


def test_a_change_applies_at_once_and_is_audited_without_its_value(login, ada, audit_rows):
    response = login(ada).post(reverse("practice_settings"), settings_data(bp_hold_systolic="165"))
    assert response.status_code == 302
    assert Practice.load().bp_hold_systolic == 165
    assert audit_rows("kapflow.practice.settings.updated")[0].detail == {"changed": ["bp_hold_systolic"]}


def test_contradictory_thresholds_are_refused_with_a_message(login, ada):
    response = login(ada).post(reverse("practice_settings"), settings_data(bp_caution_systolic="170"))
    html = response.content.decode()
    assert response.status_code == 200 and "The caution level must be below the hold level." in html
    assert 'value="170"' in html
    assert Practice.load().bp_caution_systolic == 140


def test_only_the_admin_changes_them(login, tess):
    assert (
        login(tess).post(reverse("practice_settings"), settings_data(bp_hold_systolic="200")).status_code
        == 403
    )
    assert Practice.load().bp_hold_systolic == 160


def test_an_interval_of_zero_is_refused_and_the_runbook_keeps_working(login, ada):
    """Every 0 minutes would have the chaperone check-ins (and the vitals, the reminders) due
    without end: each interval is at least 1."""
    for name in ("chaperone_checkin_minutes", "vitals_interval_minutes", "measures_weekly_days"):
        response = login(ada).post(reverse("practice_settings"), settings_data(**{name: "0"}))
        assert response.status_code == 200, name
        assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    practice = Practice.load()
    assert (practice.chaperone_checkin_minutes, practice.vitals_interval_minutes) == (15, 30)
