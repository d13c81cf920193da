"""The demo practice's portal accounts: one adult client in a course (whose therapist shows her
progress on the portal) and the guardian of a teenager who is still at the consent step.
Fictional throughout; same demo password as the staff."""

from django.db.models import Exists, OuterRef

from kapflow.accounts.models import User
from kapflow.clients.models import Client, Guardian

CLIENT_EMAIL = "client@demo.kapflow.test"
GUARDIAN_EMAIL = "guardian@demo.kapflow.test"


def add_portal_story(staff) -> None:
    """Added once: nothing happens when the client's portal account already exists."""
    from kapflow.demo.quick import DEMO_PASSWORD

    if User.objects.filter(email=CLIENT_EMAIL).exists():
        return
    adult = (
        Client.objects.filter(
            stage=Client.Stage.COURSE, portal_user__isnull=True, care_team__user=staff["owner"]
        )
        .order_by("pk")
        .first()
    )
    if adult is not None and not adult.is_minor:
        adult.portal_user = User.objects.create_user(
            CLIENT_EMAIL, DEMO_PASSWORD, full_name=f"{adult.first_name} {adult.last_name}", is_client=True
        )
        adult.portal_shows_progress = True
        adult.save(update_fields=["portal_user", "portal_shows_progress"])

    authorised = Guardian.objects.filter(client=OuterRef("pk"), has_legal_authority=True)
    minors = [c for c in Client.objects.filter(Exists(authorised)).order_by("-stage", "pk") if c.is_minor]
    teen = next((c for c in minors if c.stage == Client.Stage.CONSENT), minors[0] if minors else None)
    if teen is not None:
        guardian = teen.guardians.filter(has_legal_authority=True).order_by("pk").first()
        guardian.portal_user = User.objects.create_user(
            GUARDIAN_EMAIL, DEMO_PASSWORD, full_name=guardian.name, is_guardian=True
        )
        guardian.save(update_fields=["portal_user"])


def portal_sign_ins() -> list[str]:
    """The demo's portal sign-ins, one line each, for load_demo's output."""
    lines = []
    for user in User.objects.filter(email__in=[CLIENT_EMAIL, GUARDIAN_EMAIL]).order_by("email"):
        what = "client portal" if user.is_client else "guardian portal"
        lines.append(f"  {user.email:<32} {user.full_name:<16} {what}")
    return lines
