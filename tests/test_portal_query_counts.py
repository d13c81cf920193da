"""The portal's list pages run the same number of queries whatever the size of the record: a
few appointments and signatures, then many more (and, for a guardian's front page, more
minors)."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.query_checks import asked_twice


def grow(client, clinician, n: int) -> None:
    """n more appointments (some cancelled, some virtual) and n more consent decisions."""
    room = Room.objects.get_or_create(name="Garden Room")[0]
    document = ConsentDocument.objects.published().filter(kind=Kind.TELEHEALTH).first()
    base = timezone.now() + datetime.timedelta(days=1)
    for i in range(n):
        start = base + datetime.timedelta(hours=3 * i)
        virtual = i % 3 == 0
        Visit.objects.create(
            client=client,
            kind=Visit.Kind.MEDICATION if i % 2 else Visit.Kind.INTEGRATION,
            starts_at=start,
            ends_at=start + datetime.timedelta(hours=2),
            modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
            room=None if virtual else room,
            clinician=clinician,
            created_by=clinician,
            status=Visit.Status.CANCELLED if i % 4 == 0 else Visit.Status.SCHEDULED,
            cancel_reason="Moved" if i % 4 == 0 else "",
        )
        Signature.objects.create(
            document=document,
            kind=Kind.TELEHEALTH,
            client=client,
            signer=Signature.Signer.CLIENT,
            signer_name="Avery Alvarez",
            typed_name="Avery Alvarez",
            decision=Signature.Decision.REVOKE if i % 2 else Signature.Decision.AGREE,
            text_sha256=document.sha256,
            presented_by=clinician,
        )


def count(http, url) -> int:
    http.get(url)  # the first request of a session does its one-off work
    with CaptureQueriesContext(connection) as queries:
        response = http.get(url)
    assert response.status_code in (200, 302)
    return len(queries)


@pytest.mark.parametrize(
    "name", ["portal:client_home", "portal:todo", "portal:consents", "portal:preparation"]
)
def test_a_client_page_costs_the_same_as_the_record_grows(name, avery, tess, cleo, login):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    http = login(cleo)
    url = reverse(name, args=[avery.pk])
    grow(avery, tess, 2)
    small = count(http, url)
    grow(avery, tess, 30)
    assert count(http, url) == small


def test_a_guardians_front_page_costs_the_same_with_more_minors(tess, gail, login):
    def add_minor():
        minor = factories.make_client(first_name="Tia", age=15, therapist=tess)
        guardian = factories.add_guardian(minor)
        guardian.portal_user = gail
        guardian.save(update_fields=["portal_user"])

    http = login(gail)
    url = reverse("portal:home")
    for _ in range(2):
        add_minor()
    small = count(http, url)
    for _ in range(12):
        add_minor()
    assert count(http, url) == small


def test_a_guardians_home_costs_the_same_as_the_record_grows(tess, gail, login):
    minor = factories.make_client(first_name="Tia", age=15, therapist=tess)
    guardian = factories.add_guardian(minor)
    guardian.portal_user = gail
    guardian.save(update_fields=["portal_user"])
    http = login(gail)
    url = reverse("portal:client_home", args=[minor.pk])
    grow(minor, tess, 2)
    small = count(http, url)
    grow(minor, tess, 30)
    for _ in range(5):
        factories.add_guardian(minor)
    assert count(http, url) == small


@pytest.mark.parametrize("name", ["portal:client_home", "portal:todo", "portal:consents"])
@pytest.mark.parametrize("who", ["client", "guardian"])
def test_a_page_asks_the_database_nothing_twice(name, who, tess, cleo, gail, login):
    """Who may sign each consent is worked out for every kind of document on these pages: the
    client's guardians and outside providers are read once for all of them (they were read for
    each kind, six times on a guardian's home page), and no query runs twice."""
    minor = factories.make_client(first_name="Tia", age=15, therapist=tess)
    for _ in range(2):
        factories.add_guardian(minor)
    guardian = factories.add_guardian(minor)
    guardian.portal_user = gail
    guardian.save(update_fields=["portal_user"])
    adult = factories.make_client(first_name="Cleo", therapist=tess, portal_user=cleo)
    factories.add_emergency_contact(adult)
    client, user = (minor, gail) if who == "guardian" else (adult, cleo)
    grow(client, tess, 3)
    http = login(user)
    url = reverse(name, args=[client.pk])
    http.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert http.get(url).status_code == 200
    assert asked_twice(queries) == []
    asked = [query["sql"] for query in queries]
    guardians = [sql for sql in asked if sql.split(" WHERE ")[0].endswith('FROM "clients_guardian"')]
    assert len(guardians) <= 1
