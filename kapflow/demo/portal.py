"""The demo practice's portal accounts: one adult client in a course (whose therapist shows her
progress on the portal), the guardian of a teenager who is still at the consent step, and, last
of all, an account for every other client who answered questionnaires on the portal. Each was
opened as kapflow.portal.services opens one: the client's therapist sent an invitation to the
address on file and the client accepted it, hours later and before anything they did there.
Fictional throughout; same demo password as the staff."""

import datetime
import random

from django.contrib.auth.hashers import make_password
from django.db.models import Exists, Min, OuterRef
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.clients.models import CareTeamMember, Client, Guardian
from kapflow.demo.dating import earliest
from kapflow.journal.models import JournalEntry
from kapflow.measures.models import Response
from kapflow.notes.models import SessionIntention
from kapflow.portal.models import PortalInvitation, token_hash
from kapflow.practice.models import Practice
from kapflow.records.models import RecordCopy

CLIENT_EMAIL = "client@demo.kapflow.test"
GUARDIAN_EMAIL = "guardian@demo.kapflow.test"
# Invitations go out during the working morning, the day before the client first uses the
# portal (or, for the guardian, who has yet to use it, a few days before the demo is loaded),
# and are accepted within these minutes.
INVITED_AT = datetime.time(10, 0)
GUARDIAN_INVITED_DAYS_AGO = 2
ACCEPTED_WITHIN = (15, 360)


def add_portal_story(staff) -> None:
    """Added once: nothing happens when the client's portal account already exists. The two
    accounts are dated by their invitations once every story is told (open_portal_accounts):
    only then is it known when the client first used hers."""
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
        # The invitation went to the address on file, and the account is opened in its name.
        adult.email = CLIENT_EMAIL
        adult.portal_user = User.objects.create_user(
            CLIENT_EMAIL, DEMO_PASSWORD, full_name=f"{adult.first_name} {adult.last_name}", is_client=True
        )
        adult.portal_shows_progress = True
        adult.save(update_fields=["email", "portal_user", "portal_shows_progress"])

    authorised = Guardian.objects.filter(client=OuterRef("pk"), has_legal_authority=True)
    minors = [c for c in Client.objects.filter(Exists(authorised)).order_by("-stage", "pk") if c.is_minor]
    teen = next((c for c in minors if c.stage == Client.Stage.CONSENT), minors[0] if minors else None)
    if teen is not None:
        guardian = teen.guardians.filter(has_legal_authority=True).order_by("pk").first()
        guardian.email = GUARDIAN_EMAIL
        guardian.portal_user = User.objects.create_user(
            GUARDIAN_EMAIL, DEMO_PASSWORD, full_name=guardian.name, is_guardian=True
        )
        guardian.save(update_fields=["email", "portal_user"])


def portal_client() -> Client | None:
    """The client whose sign-in load_demo prints (CLIENT_EMAIL)."""
    return Client.objects.filter(portal_user__email=CLIENT_EMAIL).first()


def first_portal_use() -> dict[int, datetime.datetime]:
    """Client id -> the first moment the client did anything on the portal: a questionnaire no
    one entered for them, a journal entry, an intention for a session, a copy of their record."""
    return earliest(
        Response.objects.filter(entered_by=None).values_list("client").annotate(first=Min("completed_at")),
        JournalEntry.objects.values_list("client").annotate(first=Min("created_at")),
        SessionIntention.objects.filter(source=SessionIntention.Source.PORTAL)
        .values_list("client")
        .annotate(first=Min("entered_at")),
        RecordCopy.objects.filter(channel=RecordCopy.Channel.PORTAL)
        .values_list("client")
        .annotate(first=Min("produced_at")),
    )


def invitation(client, *, by, at, lasts, rng, accepted=None, account=None, guardian=None) -> PortalInvitation:
    """The invitation (unsaved) as kapflow.portal.services writes it: to the address on file,
    sent by `by` at `at`, lasting the practice's `lasts`, with a token only its hash is kept of;
    accepted at `accepted` by `account` when it was. Both demo practices make theirs here."""
    return PortalInvitation(
        client=client,
        guardian=guardian,
        email=guardian.email if guardian else client.email,
        token_sha256=token_hash(f"{rng.getrandbits(128):032x}"),
        created_at=at,
        created_by=by,
        expires_at=at + lasts,
        accepted_at=accepted,
        accepted_by=account,
    )


def open_portal_accounts(staff) -> None:
    """Last, after every story: each client who used the portal has an account, opened by an
    invitation their primary therapist sent the morning of the day before they first did; the
    two accounts add_portal_story made are dated by invitations of their own. A client or
    guardian whose account came from an accepted invitation already is left as it is, so a
    second load adds nothing."""
    from kapflow.demo.quick import DEMO_PASSWORD

    rng = random.Random(77)  # noqa: S311  (made-up demo data, not secrets)
    lasts = datetime.timedelta(hours=Practice.load().portal_invitation_hours)
    password = make_password(DEMO_PASSWORD)
    opened = PortalInvitation.objects.filter(accepted_at__isnull=False)
    invited_clients = set(opened.filter(guardian=None).values_list("client", flat=True))
    invited_guardians = set(opened.exclude(guardian=None).values_list("guardian", flat=True))
    primaries = CareTeamMember.objects.filter(role=CareTeamMember.Role.PRIMARY_THERAPIST)
    therapists = {member.client_id: member.user for member in primaries.select_related("user")}

    def invite(client, *, guardian, account, day) -> None:
        at = timezone.make_aware(datetime.datetime.combine(day, INVITED_AT))
        accepted = at + datetime.timedelta(minutes=rng.randint(*ACCEPTED_WITHIN))
        account.date_joined = account.last_login = accepted
        account.save(update_fields=["date_joined", "last_login"])
        by = therapists.get(client.pk, staff["owner"])
        invitation(
            client, by=by, at=at, lasts=lasts, rng=rng, accepted=accepted, account=account, guardian=guardian
        ).save()

    firsts = first_portal_use()
    for client in Client.objects.filter(pk__in=firsts).select_related("portal_user").order_by("pk"):
        if client.pk in invited_clients:
            continue
        account = client.portal_user
        if account is None:
            account = User.objects.create(
                email=client.email,
                full_name=f"{client.first_name} {client.last_name}",
                password=password,
                is_client=True,
            )
            client.portal_user = account
            client.save(update_fields=["portal_user"])
        day = timezone.localdate(firsts[client.pk]) - datetime.timedelta(days=1)
        invite(client, guardian=None, account=account, day=day)
    guardians = Guardian.objects.filter(portal_user__isnull=False).select_related("client", "portal_user")
    for guardian in guardians:
        if guardian.pk in invited_guardians:
            continue
        day = timezone.localdate() - datetime.timedelta(days=GUARDIAN_INVITED_DAYS_AGO)
        invite(guardian.client, guardian=guardian, account=guardian.portal_user, day=day)


def portal_sign_ins() -> list[str]:
    """The demo's portal sign-ins, one line each, for load_demo's output."""
    lines = []
    for user in User.objects.filter(email__in=[CLIENT_EMAIL, GUARDIAN_EMAIL]).order_by("email"):
        what = "client portal" if user.is_client else "guardian portal"
        lines.append(f"  {user.email:<32} {user.full_name:<16} {what}")
    others = Client.objects.exclude(portal_user=None).exclude(portal_user__email=CLIENT_EMAIL).count()
    if others:
        lines.append(
            f"  and {others} more clients, each with the email address on their chart "
            "(they answered questionnaires on the portal)"
        )
    return lines
