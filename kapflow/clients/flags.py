from dataclasses import dataclass

from kapflow.clients.models import Client


@dataclass(frozen=True)
class Flag:
    label: str
    level: str  # "danger", "warn" or "quiet": how loudly the banner shows it


def client_flags(client: Client) -> list[Flag]:
    """What the banner warns about. Reads the client's guardians and emergency contacts:
    prefetch them when calling this for more than one client."""
    flags = []
    if client.is_minor:
        flags.append(Flag("Minor", "warn"))
        if not any(guardian.has_legal_authority for guardian in client.guardians.all()):
            flags.append(Flag("No guardian who can consent", "danger"))
    if not client.emergency_contacts.all():
        flags.append(Flag("No emergency contact", "warn"))
    if client.has_left_care:
        flags.append(Flag(client.get_stage_display(), "quiet"))
    return flags
