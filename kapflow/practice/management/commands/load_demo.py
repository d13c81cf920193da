from django.core.management.base import BaseCommand

from kapflow.practice.demo import DEMO_PASSWORD, STAFF, load_demo
from kapflow.practice.demo_portal import portal_sign_ins


class Command(BaseCommand):
    help = "Load the fictional demo practice (once; safe to run again). --clients N adds N more clients."

    def add_arguments(self, parser):
        parser.add_argument(
            "--clients", type=int, default=0, help="add this many extra clients (for measuring)"
        )

    def handle(self, *args, clients: int, **options):
        if clients < 0:
            self.stderr.write("--clients must be 0 or more.")
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
