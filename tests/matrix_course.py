"""The course reviews' URLs in the access matrix (tests/test_access_matrix.py)."""

from django.utils import timezone

from kapflow.course.models import CourseReview
from kapflow.pathway.models import CoursePlan
from tests.access_rules import clinical_page, clinician_page


def _client(world, client):
    return {"client_id": client.pk}


def _review(world, client):
    return {"client_id": client.pk, "review_id": world["course_reviews"][client.pk].pk}


MATRIX = {
    "course:review_new": ("get", clinician_page, _client),
    "course:review_detail": ("get", clinical_page, _review),
    "course:review_sign": ("post", clinician_page, _review),
}


def build(world):
    world["course_reviews"] = {}
    now = timezone.now()
    for name, clinician in (("avery", world["tess"]), ("olive", world["colin"])):
        client = world[name]
        plan = CoursePlan.objects.create(
            client=client, goals="Ease low mood.", planned_sessions=6, updated_by=clinician
        )
        world["course_reviews"][client.pk] = CourseReview.objects.create(
            client=client,
            plan=plan,
            summary="Going well.",
            decision="continue",
            written_by=clinician,
            # Decided, so that a new review may be written (one open review a client).
            therapist_signed_by=clinician,
            therapist_signed_at=now,
            prescriber_signed_by=world["priya"],
            prescriber_signed_at=now,
            decided_at=now,
        )
