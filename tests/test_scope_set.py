"""clients_for's set, client by client: a clinician sees the clients on whose care team they are
and those of their open access grants, and no other (docs/access.md). The access matrix checks
pages; this checks the set itself, on its own and embedded in other queries as the views use it."""

import datetime

import pytest
from django.db.models import Exists, OuterRef
from django.test import RequestFactory
from django.utils import timezone

from kapflow.clients.access import Need, can_see_clinical, care_team_clients, clients_for, scopes_are_one
from kapflow.clients.models import AccessGrant, CareTeamMember, Client
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories


def asking(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def grant(client, user, *, ended=False):
    now = timezone.now()
    return AccessGrant.objects.create(
        client=client,
        user=user,
        reason="On-call prescriber told of an in-session alert",
        source=f"tests.grant:{client.pk}",
        granted_at=now - datetime.timedelta(hours=2),
        ended_at=now - datetime.timedelta(hours=1) if ended else None,
    )


@pytest.fixture
def world(tess, colin, priya, cora):
    """Tess's own clients (one shared with Priya), one she holds an open grant for, one whose
    grant to her has ended, Colin's client and one granted to Colin alone, and a client nobody
    cares for."""
    own = factories.make_client(first_name="Avery", therapist=tess, prescriber=priya)
    also_own = factories.make_client(first_name="Blair")
    CareTeamMember.objects.create(client=also_own, user=tess, role=CareTeamMember.Role.THERAPIST)
    granted = factories.make_client(first_name="Gale", therapist=colin)
    grant(granted, tess)
    ended = factories.make_client(first_name="Ezra", therapist=colin)
    grant(ended, tess, ended=True)
    colins = factories.make_client(first_name="Olive", therapist=colin)
    colins_grant = factories.make_client(first_name="Quinn")
    grant(colins_grant, colin)
    nobodys = factories.make_client(first_name="Noor")
    return {
        "own": own,
        "also_own": also_own,
        "granted": granted,
        "ended": ended,
        "colins": colins,
        "colins_grant": colins_grant,
        "nobodys": nobodys,
    }


def ids(*clients):
    return {client.pk for client in clients}


@pytest.mark.parametrize("need", list(Need))
def test_a_clinician_sees_their_care_teams_and_open_grants_and_nothing_else(world, tess, colin, priya, need):
    expected = {
        tess: ids(world["own"], world["also_own"], world["granted"]),
        colin: ids(world["granted"], world["ended"], world["colins"], world["colins_grant"]),
        priya: ids(world["own"]),
    }
    for user, theirs in expected.items():
        scope = clients_for(asking(user), need=need)
        assert set(scope.values_list("pk", flat=True)) == theirs, user
        assert scope.count() == len(theirs), user  # each client once, however they are reached
        for client in world.values():
            assert scope.filter(pk=client.pk).exists() is (client.pk in theirs), (user, client)


def test_a_grant_alongside_the_care_team_counts_the_client_once(world, tess):
    grant(world["own"], tess)
    scope = clients_for(asking(tess), need=Need.CLINICAL)
    assert sorted(scope.values_list("pk", flat=True)) == sorted(
        ids(world["own"], world["also_own"], world["granted"])
    )


def test_a_grant_once_ended_lets_nobody_in(world, tess):
    AccessGrant.objects.filter(client=world["granted"], user=tess).update(ended_at=timezone.now())
    scope = clients_for(asking(tess))
    assert set(scope.values_list("pk", flat=True)) == ids(world["own"], world["also_own"])
    assert not can_see_clinical(asking(tess), world["granted"])


def test_the_scope_keeps_its_set_inside_other_queries(world, tess, colin):
    """The views embed the scope: `client__in=`, an EXISTS on the outer row, `a & scope`."""
    for client in world.values():
        Visit.objects.create(
            client=client,
            kind=Visit.Kind.THERAPY,
            modality=Visit.Modality.VIRTUAL,
            starts_at=timezone.now(),
            ends_at=timezone.now() + datetime.timedelta(hours=1),
            clinician=colin,
            created_by=colin,
        )
    theirs = ids(world["own"], world["also_own"], world["granted"])
    scope = clients_for(asking(tess), need=Need.CLINICAL)
    visits = Visit.objects.all()
    assert set(visits.filter(client__in=scope).values_list("client_id", flat=True)) == theirs
    assert (
        set(visits.filter(Exists(scope.filter(pk=OuterRef("client_id")))).values_list("client_id", flat=True))
        == theirs
    )
    outside = set(visits.exclude(client__in=scope).values_list("client_id", flat=True))
    assert outside == ids(*world.values()) - theirs
    combined = Client.objects.prefetch_related("care_team") & scope
    assert set(combined.values_list("pk", flat=True)) == theirs


def test_others_see_what_their_roles_allow(world, cora, tess):
    every = set(Client.objects.values_list("pk", flat=True))
    assert set(clients_for(asking(cora)).values_list("pk", flat=True)) == every
    assert not clients_for(asking(cora), need=Need.CLINICAL).exists()
    practice = Practice.load()
    practice.open_caseload = True
    practice.save()
    assert set(clients_for(asking(tess), need=Need.CLINICAL).values_list("pk", flat=True)) == every


@pytest.mark.parametrize("open_caseload", [False, True])
def test_the_care_team_clients_are_the_scope_narrowed_to_the_care_team(
    world, tess, colin, priya, cora, ada, open_caseload
):
    """care_team_clients (the dashboard's lists start from it) reads the care team alone: the
    same set as the clinical scope narrowed to the user's care team, for everyone, whatever the
    practice's open_caseload, with access grants (which widen the scope, not the care team),
    for an inactive clinician and an outside prescriber, on a page of theirs and another."""
    from django.urls import ResolverMatch

    practice = Practice.load()
    practice.open_caseload = open_caseload
    practice.save()
    outside = factories.make_user("Dr Outside", roles=("is_prescriber",))
    outside.outside_practice = True
    outside.save()
    CareTeamMember.objects.create(client=world["colins"], user=outside, role=CareTeamMember.Role.PRESCRIBER)
    gone = factories.make_user("Gone Therapist")
    CareTeamMember.objects.create(client=world["nobodys"], user=gone, role=CareTeamMember.Role.THERAPIST)
    gone.is_active = False
    gone.save()
    for user in (tess, colin, priya, cora, ada, outside, gone):
        for page in ("home", "clients:caseload"):
            request = asking(user)
            request.resolver_match = ResolverMatch(lambda: None, (), {}, url_name=page.split(":")[-1])
            request.resolver_match.view_name = page
            narrowed = clients_for(request, need=Need.CLINICAL).filter(care_team__user=user)
            expected = set(narrowed.values_list("pk", flat=True))
            found = care_team_clients(request)
            assert set(found.values_list("pk", flat=True)) == expected, (user, page)
            assert found.count() == len(expected), (user, page)
            if user == outside:  # their own client on their Today page, nobody elsewhere
                assert expected == (ids(world["colins"]) if page == "home" else set()), page
    assert set(care_team_clients(asking(tess)).values_list("pk", flat=True)) == ids(
        world["own"], world["also_own"]
    )


@pytest.mark.parametrize("open_caseload", [False, True])
def test_scopes_are_one_exactly_when_both_needs_give_the_same_clients(
    world, tess, colin, priya, cora, ada, open_caseload
):
    """The calendar asks the clinical scope only when scopes_are_one says it differs: for each
    person, with and without an open caseload, the two sets are equal when it says they are one,
    and differ (for this world, where some clients are in nobody's care) when it says not."""
    Practice.objects.filter(pk=1).update(open_caseload=open_caseload)
    both = factories.make_user("Bo Both", roles=("is_therapist", "is_coordinator"))
    for user in (tess, colin, priya, cora, ada, both):
        request = asking(user)
        sets = [set(clients_for(request, need=need).values_list("pk", flat=True)) for need in Need]
        if scopes_are_one(user):
            assert sets[0] == sets[1], user
        elif not (open_caseload and user.is_clinician):
            assert sets[0] != sets[1], user
