"""Who does what with the practice's money (docs/access.md, "Billing"). The services ask these
too, so a page that forgot to would still be refused."""


def can_bill(user) -> bool:
    """Who reads the billing pages, issues invoices and records payments: the coordinators and the
    practice admins. Clinicians see their clients' diagnoses, not their accounts."""
    return bool(user.is_authenticated and user.is_active and (user.is_coordinator or user.is_practice_admin))


def can_adjust(user) -> bool:
    """Who refunds money and writes off what will not be collected: the practice admins alone
    (money leaving, or forgiven, is the owner's decision)."""
    return bool(user.is_authenticated and user.is_active and user.is_practice_admin)


def can_set_fees(user) -> bool:
    """Who sets the fee schedule and the practice's billing identifiers: the practice admins."""
    return can_adjust(user)


def can_diagnose(user) -> bool:
    """Who may record a diagnosis at all (on the clients whose records they write,
    kapflow.clients.access.writes_for): a licensed clinician, i.e. an active therapist or
    prescriber of the practice. A coordinator or an admin alone records none, nor an invited
    outside prescriber (User.outside_practice), who sees only the medical pages (docs/access.md,
    "The invited outside prescriber")."""
    return bool(user.is_authenticated and user.is_active and user.is_clinician and not user.outside_practice)
