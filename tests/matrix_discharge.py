"""The discharge pages in the access matrix (tests/test_access_matrix.py). Reading them is for
the client's clinicians (clinical_page: coordinators and the admin get 404, portal users 403);
writing and signing are for a therapist or prescriber (clinician_page: other staff roles 403),
on the care team (anyone else 404). In the matrix's world both clients are still at the
consultation stage and each has a signed discharge: the form for a new one says why none is
written, and signing again is refused, the refusal still answering the request. (An open draft
would send the form's page on to the draft; tests/test_discharge.py tries drafts.)"""

from django.utils import timezone

from kapflow.course.models import Discharge
from tests.access_rules import clinical_page, clinician_page


def _client(world, client):
    return {"client_id": client.pk}


def _discharge(world, client):
    return {"client_id": client.pk, "discharge_id": world["discharges"][client.pk].pk}


MATRIX = {
    "course:discharge_list": ("get", clinical_page, _client),
    "course:discharge_new": ("get", clinician_page, _client),
    "course:discharge_detail": ("get", clinical_page, _discharge),
    "course:discharge_sign": ("post", clinician_page, _discharge),
}


def _draft(client, by, **signed) -> Discharge:
    return Discharge.objects.create(
        **signed,
        client=client,
        reason=Discharge.Reason.COMPLETED,
        condition="Mood lifted, no suicidal ideation, low risk.",
        recommendations="Keep the weekly therapy; come back if the low mood returns.",
        written_by=by,
    )


def build(world):
    """A signed discharge on each client's chart, by their therapist."""
    world["discharges"] = {}
    for name, by in (("avery", "tess"), ("olive", "colin")):
        user = world[by]
        world["discharges"][world[name].pk] = _draft(
            world[name], user, signed_by=user, signed_at=timezone.now(), signature=user.display_name
        )


def walk_discharge(client) -> Discharge:
    """A discharge on the demo client's chart for the screenshot walk (tests/browser/walk.py):
    the newest there, or a draft by the client's first clinician."""
    existing = client.discharges.first()
    if existing is not None:
        return existing
    by = client.care_team.select_related("user").order_by("pk").first().user
    return _draft(client, by)
