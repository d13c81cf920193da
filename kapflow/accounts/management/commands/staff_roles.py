"""`manage.py staff_roles EMAIL --add therapist`: give or take a staff role from the server.

The staff page never lets an admin give themselves a clinical role (therapist, prescriber):
another admin must. A practice whose owner is its only admin and also sees clients has no
other admin, so the owner's clinical role is set here, by whoever runs the server, and the
change is audited like any other."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from kapflow.accounts.models import STAFF_ROLES, User
from kapflow.accounts.services import staff_roles_set

ROLE_NAMES = {role.value: role for role in STAFF_ROLES}


def _who_runs() -> str:
    """The server account running the command, for the audit row (unknown in a bare container)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "an unknown server account"


class Command(BaseCommand):
    help = "Give (--add) or take (--remove) staff roles: " + ", ".join(ROLE_NAMES) + "."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email", help="the staff account's email address")
        parser.add_argument("--add", action="append", default=[], choices=sorted(ROLE_NAMES), metavar="ROLE")
        parser.add_argument(
            "--remove", action="append", default=[], choices=sorted(ROLE_NAMES), metavar="ROLE"
        )

    def handle(self, *args, email: str, add: list[str], remove: list[str], **options) -> None:
        if not add and not remove:
            raise CommandError("Say which roles to --add or --remove.")
        if set(add) & set(remove):
            raise CommandError("A role cannot be both added and removed.")
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None or not user.is_staff_member:
            raise CommandError(f"No staff account has the address {email}. Invite the person first.")
        try:
            user = staff_roles_set(
                user=user,
                add=[ROLE_NAMES[name] for name in add],
                remove=[ROLE_NAMES[name] for name in remove],
                by=f"manage.py staff_roles, run by {_who_runs()}",
            )
        except ValueError as problem:
            raise CommandError(str(problem)) from None
        roles = ", ".join(role.label.lower() for role in user.roles)
        self.stdout.write(self.style.SUCCESS(f"{user.email} now has the roles: {roles}."))
