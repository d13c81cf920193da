"""The links on the dashboard's rows are made once per list (kapflow.lib.links.row_link) rather than by
a url tag per row: each row still links to its own client and visit, as reverse() says."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.measures.models import Alert
from kapflow.medical.models import Screening
from kapflow.pathway.models import CoursePlan
from kapflow.visits.models import Visit
from tests import factories
from tests.test_integration import make_clearance, make_screening

pytestmark = pytest.mark.django_db


def _visit(client, clinician, starts, *, kind, status="scheduled", minutes=60):
    return Visit.objects.create(
        client=client,
        kind=kind,
        status=status,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=minutes),
        modality="virtual",
        clinician=clinician,
        created_by=clinician,
    )


def test_a_therapists_rows_link_to_their_own_client_and_visit(login, tess):
    first, second = (factories.make_client(first_name=name, therapist=tess) for name in ("Ada", "Bo"))
    alerts = [Alert.objects.create(client=client, kind="suicidality") for client in (first, second)]
    soon = timezone.now() + datetime.timedelta(minutes=5)
    if timezone.localtime(soon).date() != timezone.localdate():
        pytest.skip("too close to midnight for a visit later today")
    session = _visit(first, tess, soon, kind="medication", minutes=150)
    talk = _visit(second, tess, soon, kind="consultation")
    ended = timezone.now() - datetime.timedelta(days=4)
    _visit(first, tess, ended, kind="medication", status="completed", minutes=150)
    record = IntegrationRecord.objects.create(client=second, clinician=tess, themes="Grief.")
    ActionItem.objects.create(client=second, record=record, text="Walk each morning")
    html = login(tess).get("/").content.decode()
    for alert in alerts:
        assert f'href="{reverse("clients:chart", args=[alert.client_id])}"' in html
        assert f'href="{reverse("measures:alert_close", args=[alert.client_id, alert.pk])}"' in html
    assert f'href="{reverse("dosing:runbook", args=[first.pk, session.pk])}"' in html
    # One request for the readiness badges of the day's sessions: the session's, not the talk's.
    assert f'hx-get="{reverse("calendar:badges")}?ids={session.pk}&amp;via=dashboard"' in html
    assert f'href="{reverse("visits:detail", args=[second.pk, talk.pk])}"' in html
    assert f'id="rb-{talk.pk}"' not in html
    # The overdue integration (Ada's) and the action item (Bo's).
    assert f'href="{reverse("integration:overview", args=[first.pk])}"' in html
    assert f'href="{reverse("integration:overview", args=[second.pk])}"' in html


def test_a_prescribers_waiting_clients_link_to_their_medical_summary(login, tess, priya):
    screened = factories.make_client(first_name="Screened", therapist=tess, prescriber=priya)
    cleared = factories.make_client(first_name="Cleared", therapist=tess, prescriber=priya)
    Screening.objects.create(client=screened, answers={}, age=35)
    make_clearance(cleared, make_screening(cleared), priya)
    page = login(priya).get("/")
    assert [c.first_name for c in page.context["clearances_waiting"]] == ["Screened"]
    assert [c.first_name for c in page.context["orders_waiting"]] == ["Cleared"]
    html = page.content.decode()
    for client in (screened, cleared):
        assert f'href="{reverse("medical:summary", args=[client.pk])}"' in html


def test_action_items_to_review_are_of_clients_still_in_care(login, tess):
    """An item is reviewed at a later session. A discharged client has none: their open items,
    oldest first, headed the therapist's list for ever (234 of them for the group demo's busiest
    therapist, against 34 of clients in care)."""
    items = {}
    for name, stage in (("Gone", "discharged"), ("Stopped", "not_proceeding"), ("Here", "course")):
        client = factories.make_client(first_name=name, therapist=tess)
        Client.objects.filter(pk=client.pk).update(stage=stage)
        record = IntegrationRecord.objects.create(client=client, clinician=tess, themes="Grief.")
        text = f"{name}: walk each morning"
        items[name] = ActionItem.objects.create(client=client, record=record, text=text)
    http = login(tess)
    assert [item.pk for item in http.get("/").context["action_items"]] == [items["Here"].pk]
    whole = http.get(reverse("queue_action_items")).content.decode()
    assert "Here: walk each morning" in whole and "Gone:" not in whole and "Stopped:" not in whole
    # The client's own integration page still shows the item as it was left.
    page = http.get(reverse("integration:overview", args=[items["Gone"].client_id])).content.decode()
    assert "Gone: walk each morning" in page


def test_a_client_whose_course_has_had_every_session_waits_for_the_review_not_an_order(login, tess, priya):
    """The order's sessions and the plan's run out together at a course's last session. The
    course review decides what comes next; only if it plans more sessions does the client wait
    for a new order. Before, every client between their last session and the review was on the
    list (8 for the group demo's busiest prescriber, all of them so)."""
    client = factories.make_client(first_name="Finished", therapist=tess, prescriber=priya)
    make_clearance(client, make_screening(client), priya)
    plan = CoursePlan.objects.create(
        client=client, goals="Ease low mood.", planned_sessions=2, updated_by=tess
    )
    for days in (9, 2):
        _visit(
            client,
            tess,
            timezone.now() - datetime.timedelta(days=days),
            kind="medication",
            status="completed",
        )
    http = login(priya)
    assert list(http.get("/").context["orders_waiting"]) == []
    assert "Finished" not in http.get(reverse("queue_orders")).content.decode()
    # The review plans two more: a new version of the plan, counting from now.
    CoursePlan.objects.filter(pk=plan.pk).update(superseded_at=timezone.now())
    CoursePlan.objects.create(
        client=client, goals="Ease low mood.", planned_sessions=2, updated_by=tess, counts_from=timezone.now()
    )
    assert [c.first_name for c in http.get("/").context["orders_waiting"]] == ["Finished"]
