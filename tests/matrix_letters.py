"""The letters' pages in the access matrix (tests/test_access_matrix.py). Every page is the
client's clinicians' (clinical_page): coordinators and the admin get 404, portal users 403.
Writing and signing are for a therapist or prescriber on the care team, which in the matrix's
world is the same people (no open caseload, no access grant)."""

from kapflow.letters.models import Letter
from tests.access_rules import clinical_page


def _client(world, client):
    return {"client_id": client.pk}


def _letter(world, client):
    return {"client_id": client.pk, "letter_id": world["letters"][client.pk].pk}


MATRIX = {
    "letters:list": ("get", clinical_page, _client),
    "letters:card": ("get", clinical_page, _client),
    "letters:new": ("get", clinical_page, _client),
    "letters:detail": ("get", clinical_page, _letter),
    "letters:pdf": ("get", clinical_page, _letter),
    "letters:sign": ("post", clinical_page, _letter),
}


def build(world):
    """A draft collaboration letter on each client's chart, to the provider the matrix's world
    gives them (no release: signing it is refused, and the refusal still answers the request)."""
    world["letters"] = {}
    for name, author in (("avery", "tess"), ("olive", "colin")):
        client = world[name]
        world["letters"][client.pk] = Letter.objects.create(
            client=client,
            kind=Letter.Kind.COLLABORATION,
            provider=world["providers"][client.pk],
            categories=["course"],
            body="Writing to share how the work is going.",
            created_by=world[author],
        )


def walk_letter(client) -> Letter:
    """A letter on the demo client's chart for the screenshot walk (tests/browser/walk.py): the
    first one there, or a draft collaboration letter to their first outside provider."""
    existing = client.letters.order_by("pk").first()
    if existing is not None:
        return existing
    by = client.care_team.select_related("user").order_by("pk").first().user
    provider = client.outside_providers.order_by("pk").first()
    if provider is None:
        provider = client.outside_providers.create(name="Dr. Sam Okoye", kind="therapist")
    return Letter.objects.create(
        client=client,
        kind=Letter.Kind.COLLABORATION,
        provider=provider,
        categories=["course"],
        body="Writing to share how the work is going, and to ask how you see it.",
        created_by=by,
    )
