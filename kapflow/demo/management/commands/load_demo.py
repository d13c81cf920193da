import time

from django.core.management.base import BaseCommand, CommandError

from kapflow.demo.group import GROUP, PASSWORD, NotAnEmptyPractice, load_group_practice
from kapflow.demo.portal import portal_sign_ins
from kapflow.demo.quick import DEMO_PASSWORD, STAFF, load_demo


class Command(BaseCommand):
    help = (
        "Load the fictional demo practice (once; safe to run again). --clients N adds N more clients "
        "to the quick one; --size group loads the group practice of 24 clinicians and two years."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--size",
            choices=["quick", "group"],
            default="quick",
            help="quick: the small practice `make run` shows; group: 24 clinicians, 5,000 clients, two years",
        )
        parser.add_argument(
            "--clients", type=int, default=0, help="add this many extra clients to the quick practice"
        )

    def handle(self, *args, size: str, clients: int, **options):
        if clients < 0:
            raise CommandError("--clients must be 0 or more.")
        if size == "group":
            if clients:
                raise CommandError(
                    "--clients adds to the quick practice; the group practice has its own size."
                )
            self._group()
            return
        result = load_demo(extra_clients=clients)
        state = (
            "Loaded the demo practice." if result["first_time"] else "The demo practice was already loaded."
        )
        self.stdout.write(self.style.SUCCESS(f"{state} {result['clients']} clients."))
        self.stdout.write(f"\nDemo sign-ins (password for all: {DEMO_PASSWORD})")
        for key, name, _cred, _roles in STAFF:
            user = result["staff"][key]
            role_names = ", ".join(role.label.lower() for role in user.roles)
            self.stdout.write(f"  {user.email:<32} {name:<16} {role_names}")
        self.stdout.write("\n".join(portal_sign_ins()))
        self.stdout.write("")

    def _group(self) -> None:
        began = time.monotonic()
        try:
            result = load_group_practice(GROUP)
        except NotAnEmptyPractice as refused:
            raise CommandError(str(refused)) from None
        if not result["first_time"]:
            self.stdout.write(self.style.SUCCESS("The group practice was already loaded."))
        else:
            seconds = time.monotonic() - began
            self.stdout.write(self.style.SUCCESS(f"Loaded the group practice in {seconds:.0f} s."))
            for name, count in sorted(result["rows"].items()):
                self.stdout.write(f"  {name:<24} {count:>9,}")
            busiest = result["busiest"]
            self.stdout.write(
                f"Busiest clinician: {busiest['user']}, {busiest['visits_in_week']} visits in one week; "
                f"at most {busiest['max_hours_in_a_day']:g} h of visits in a day."
            )
        self.stdout.write(f"\nSign-ins (password for all: {PASSWORD})")
        for user in result["staff"]:
            role_names = ", ".join(role.label.lower() for role in user.roles)
            self.stdout.write(f"  {user.email:<34} {user.full_name:<18} {role_names}")
        self.stdout.write(
            "  and every client invited to the portal, by the email on their chart (first.last.N@example.com)"
        )
        self.stdout.write("")
