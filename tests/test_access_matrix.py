"""Every URL pattern kapflow defines, requested by every persona, against the access rules of
docs/access.md.

The first test fails when a URL pattern is added without a line in MATRIX, so no new view can
escape this check. Client pages are requested twice: for Tess's client (Avery) and for Colin's
(Olive), so each clinician is tried on their own client and on someone else's."""

import importlib
import pkgutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from kapflow.audit.models import AuditEvent
from kapflow.clients.models import CareTeamMember, EmergencyContact, Guardian, OutsideProvider
from kapflow.inquiries.models import Inquiry
from kapflow.measures.models import Alert, Response
from tests import factories
from tests.access_rules import (
    CLIENT_RULES,
    FORBIDDEN,
    LOGIN,
    MISSING,
    OK,
    OUTSIDE,
    ROLES,
    admin_page,
    client_page,
    clinical_page,
    home_page,
    inbox_page,
    keepalive,
    outside_prescriber,
    public_page,
    staff_page,
)

# Third-party pages mounted under /accounts/ (django-allauth: sign-in, MFA, sessions). They are
# allauth's own, reachable by anyone by design, and checked by allauth's test suite.
THIRD_PARTY_PREFIXES = ("accounts/",)

# name -> (method, rule, builds the URL's kwargs from the world, for the target client)
MATRIX = {
    "home": ("get", home_page, None),
    "start": ("get", public_page, None),
    "start_thanks": ("get", public_page, None),
    "keepalive": ("post", keepalive, None),
    "clients:caseload": ("get", staff_page, None),
    "clients:new": ("get", staff_page, None),
    "clients:chart": ("get", client_page, lambda w, c: {"client_id": c.pk}),
    "clients:edit": ("get", client_page, lambda w, c: {"client_id": c.pk}),
    "clients:care_team": ("get", client_page, lambda w, c: {"client_id": c.pk}),
    "clients:care_team_remove": (
        "post",
        client_page,
        lambda w, c: {"client_id": c.pk, "member_id": c.care_team.first().pk},
    ),
    "clients:contact_new": ("get", client_page, lambda w, c: {"client_id": c.pk, "kind": "guardians"}),
    "clients:contact_edit": (
        "get",
        client_page,
        lambda w, c: {"client_id": c.pk, "kind": "providers", "contact_id": w["providers"][c.pk].pk},
    ),
    "clients:contact_remove": (
        "post",
        client_page,
        lambda w, c: {"client_id": c.pk, "kind": "emergency-contacts", "contact_id": w["contacts"][c.pk].pk},
    ),
    "measures:list": ("get", clinical_page, lambda w, c: {"client_id": c.pk}),
    "measures:new": ("get", clinical_page, lambda w, c: {"client_id": c.pk, "instrument": "phq9"}),
    "measures:detail": (
        "get",
        clinical_page,
        lambda w, c: {"client_id": c.pk, "response_id": w["responses"][c.pk].pk},
    ),
    "measures:alert_close": (
        "get",
        clinical_page,
        lambda w, c: {"client_id": c.pk, "alert_id": w["alerts"][c.pk].pk},
    ),
    "inquiries:inbox": ("get", inbox_page, None),
    "inquiries:detail": ("get", inbox_page, lambda w, c: {"inquiry_id": w["inquiry"].pk}),
    "inquiries:convert": ("get", inbox_page, lambda w, c: {"inquiry_id": w["inquiry"].pk}),
    "inquiries:decline": ("post", inbox_page, lambda w, c: {"inquiry_id": w["inquiry"].pk}),
    "accounts:staff": ("get", admin_page, None),
    "accounts:staff_invite": ("get", admin_page, None),
    "accounts:staff_edit": ("get", admin_page, lambda w, c: {"user_id": w["colin"].pk}),
    "accounts:staff_deactivate": ("post", admin_page, lambda w, c: {"user_id": w["colin"].pk}),
    "accounts:staff_reactivate": ("post", admin_page, lambda w, c: {"user_id": w["retired"].pk}),
    "audit_log": ("get", admin_page, None),
    "practice_settings": ("get", admin_page, None),
}

# Each feature may keep its own lines in tests/matrix_<feature>.py: a MATRIX dict like the one
# above, and build(world) adding the objects its URLs need. They are merged here.
EXTENSIONS = [
    importlib.import_module(f"tests.{module.name}")
    for module in pkgutil.iter_modules([str(Path(__file__).parent)])
    if module.name.startswith("matrix_")
]
for extension in EXTENSIONS:
    assert not MATRIX.keys() & extension.MATRIX.keys(), f"{extension.__name__} repeats a URL name"
    MATRIX.update(extension.MATRIX)


def project_url_names():
    """Every named URL pattern kapflow defines (namespaced), allauth's excepted."""
    names = set()

    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith(THIRD_PARTY_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, route, ns)
            elif isinstance(pattern, URLPattern):
                assert pattern.name, f"URL pattern {route!r} has no name, so it cannot be checked"
                names.add(namespace + pattern.name)

    walk(get_resolver().url_patterns, "", "")
    return names


def test_it_has_a_rule_for_every_url_pattern():
    names = project_url_names()
    assert names - MATRIX.keys() == set(), "new URL patterns need a line in MATRIX"
    assert MATRIX.keys() - names == set(), "MATRIX names URL patterns that no longer exist"


@pytest.fixture(scope="module")
def built_world(django_db_setup, django_db_blocker, media_dir):
    """The world, built once for the module's tests (once for each run of them in a row, under
    pytest-xdist) in a transaction that is rolled back after the last of them. Each test's own
    transaction (pytest-django's, by `db`) is a savepoint inside it, rolled back when the test
    ends, so every test starts from the world exactly as it was built. Building it for each of
    the ~250 tests cost half a second each.

    This runs before the tests' function-scoped fixtures, so it does for itself what
    tests/conftest.py's `_fast_and_isolated` does for them."""
    from django.core.cache import cache
    from huey.contrib.djhuey import HUEY

    storages = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(media_dir)}},
    }
    outer = transaction.atomic()
    # As a TestCase's own block: a durable block opened while building is allowed, as before.
    outer._from_testcase = True
    with django_db_blocker.unblock():
        outer.__enter__()
    try:
        immediate = HUEY.immediate
        with (
            django_db_blocker.unblock(),
            override_settings(
                PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"], STORAGES=storages
            ),
        ):
            cache.clear()
            HUEY.immediate = True
            try:
                world = build_world()
            finally:
                HUEY.immediate = immediate
        yield world, outer
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(built_world, db):
    world, outer = built_world
    blocks = transaction.get_connection().atomic_blocks
    assert blocks and blocks[0] is outer, "the transaction holding the world was closed"
    return world


def build_world():
    # The personas and their clients, made as tests/conftest.py's fixtures make them, in the
    # order the fixtures were requested here.
    ada, tess, colin, priya, cora, cleo, gail = map(
        factories.make_persona, ["ada", "tess", "colin", "priya", "cora", "cleo", "gail"]
    )
    avery, olive = factories.make_avery(tess, priya), factories.make_olive(colin)
    retired = factories.make_user("Retired Therapist", roles=("is_therapist",))
    retired.is_active = False
    retired.save()
    world = {
        "ada": ada,
        "tess": tess,
        "colin": colin,
        "priya": priya,
        "cora": cora,
        "cleo": cleo,
        "gail": gail,
        "avery": avery,
        "olive": olive,
        "retired": retired,
        "providers": {},
        "contacts": {},
        "responses": {},
        "alerts": {},
    }
    for client in (avery, olive):
        world["providers"][client.pk] = OutsideProvider.objects.create(
            client=client, name="Dr. Outside", kind="psychiatrist"
        )
        world["contacts"][client.pk] = EmergencyContact.objects.create(
            client=client, name="Sam", relationship="friend", phone="555"
        )
        Guardian.objects.create(client=client, name="Pat", relationship="parent", phone="555")
        response = Response.objects.create(
            client=client, instrument="phq9", version="1", answers={}, total=3, band="Minimal"
        )
        world["responses"][client.pk] = response
        world["alerts"][client.pk] = Alert.objects.create(
            client=client, kind="suicidality", response=response
        )
    world["inquiry"] = Inquiry.objects.create(
        first_name="Rowan", last_name="Hale", phone="555", message="Hello"
    )
    assert CareTeamMember.objects.filter(client=olive).exists()
    # The portal personas: Cleo is Avery (her portal account); Gail is named as Avery's guardian,
    # but Avery is an adult, so the guardianship opens nothing.
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    Guardian.objects.create(client=avery, name="Gail Guardian", relationship="mother", portal_user=gail)
    for extension in EXTENSIONS:
        extension.build(world)
    return world


def outcome(response) -> str:
    if response.status_code == 200 or (
        response.status_code == 302
        and "/accounts/login/" not in response["Location"]
        and response.request["REQUEST_METHOD"] == "POST"
    ):
        return OK
    if response.status_code == 302:
        location = response["Location"]
        return LOGIN if "/accounts/login/" in location else f"redirect:{location}"
    return {403: FORBIDDEN, 404: MISSING}.get(response.status_code, f"status:{response.status_code}")


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_it_enforces_the_access_rules(name, world, login):
    method, rule, kwargs_for = MATRIX[name]
    targets = ["avery", "olive"] if rule in CLIENT_RULES else ["avery"]
    failures = []
    for target in targets:
        for role in ROLES:
            http = login(world.get(role))
            kwargs = kwargs_for(world, world[target]) if kwargs_for else {}
            url = reverse(name, kwargs=kwargs)
            with transaction.atomic():  # each request's writes are undone before the next
                before = AuditEvent.objects.count()
                response = getattr(http, method)(url)
                written = list(AuditEvent.objects.order_by("pk")[before:])
                transaction.set_rollback(True)
            if role == OUTSIDE:
                # Every staff page is behind kapflow.accounts.access.staff_view.
                staff = hasattr(resolve(url).func, "allowed_roles")
                expected = outside_prescriber(
                    name, rule, target, staff_page=staff, names_client="client_id" in kwargs
                )
            else:
                expected = rule(role, target)
            got = outcome(response)
            if expected.startswith("status:"):
                got = f"status:{response.status_code}"
            if got != expected:
                failures.append(f"{role} {method.upper()} {url} ({target}): expected {expected}, got {got}")
            elif got == OK and rule in CLIENT_RULES | {inbox_page}:
                # Reading or writing client data leaves a trace naming the person and the client.
                clients = {row.client_id for row in written if row.actor_id == world[role].pk}
                wanted = world[target].pk if rule in CLIENT_RULES else None
                if not written or (wanted and wanted not in clients):
                    failures.append(f"{role} {method.upper()} {url} ({target}): no audit row written")
    assert failures == []
