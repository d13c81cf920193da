"""Sending letters, disclosures and the provider's download page in the access matrix
(tests/test_access_matrix.py). Sending and the disclosures are the client's clinicians' (404 for
anyone else with a staff role, as for a client outside their care); the portal's release page is
the client's (or a minor's guardian with authority); the download page is public: the token in
its address is the key, and an unknown one gets the same "cannot be used" page."""

from tests.access_rules import clinical_page, portal_page, public_page


def _letter(world, client):
    return {"client_id": client.pk, "letter_id": world["sent_letters"][client.pk].pk}


def _fax(world, client):
    return {**_letter(world, client), "method": "fax"}


def _client(world, client):
    return {"client_id": client.pk}


def _provider(world, client):
    return {"client_id": client.pk, "provider_id": world["providers"][client.pk].pk}


def _token(world, client):
    return {"token": "an-unknown-token-of-forty-three-characters1"}


MATRIX = {
    "letter_sending:page": ("get", clinical_page, _letter),
    "letter_sending:link": ("post", clinical_page, _letter),
    "letter_sending:download": ("post", clinical_page, _fax),
    "disclosures:list": ("get", clinical_page, _client),
    "disclosures:new": ("get", clinical_page, _client),
    "disclosures:export": ("get", clinical_page, _client),
    "portal:release_sign": ("get", portal_page, _provider),
    "letter_links:download": ("get", public_page, _token),
}


def build(world):
    from tests.test_letter_sending import given_release, signed_letter

    world["sent_letters"] = {}
    for name, clinician in (("avery", "tess"), ("olive", "colin")):
        provider = world["providers"][world[name].pk]
        given_release(provider, by=world[clinician])
        world["sent_letters"][world[name].pk] = signed_letter(provider, by=world[clinician])


def walk_provider(client):
    """An outside provider of `client` for the screenshot walk (tests/browser/walk.py): the first
    one on the chart, or a new one."""
    provider = client.outside_providers.order_by("pk").first()
    return provider or client.outside_providers.create(name="Dr. Sam Okoye", kind="therapist")
