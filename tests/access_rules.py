"""The access rules of docs/access.md, one function per kind of
page: rule(role, target) -> the outcome expected when that persona requests the page for that
target client ("avery" is Tess's and Priya's client, "olive" is Colin's). Used by
tests/test_access_matrix.py and the tests/matrix_*.py files that extend it."""

ROLES = ["anon", "ada", "tess", "colin", "priya", "cora", "cleo", "gail"]
STAFF = {"ada", "tess", "colin", "priya", "cora"}
OK, LOGIN, FORBIDDEN, MISSING = "ok", "login", "forbidden", "missing"


def staff_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in STAFF else FORBIDDEN


def client_page(role, target):
    """Demographics and contacts: the coordinator and the admin see every client; a clinician
    only the clients on whose care team they are; anyone else nothing."""
    if role == "anon":
        return LOGIN
    if role in ("cleo", "gail"):
        return FORBIDDEN
    if role in ("ada", "cora"):
        return OK
    on_team = {"avery": {"tess", "priya"}, "olive": {"colin"}}[target]
    return OK if role in on_team else MISSING


def clinical_page(role, target):
    """Measures and alerts: only the client's own clinicians. Coordinators and an admin who is
    not a clinician get 404, as for a client outside their care."""
    if role == "anon":
        return LOGIN
    if role in ("cleo", "gail"):
        return FORBIDDEN
    on_team = {"avery": {"tess", "priya"}, "olive": {"colin"}}[target]
    return OK if role in on_team else MISSING


def inbox_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "cora") else FORBIDDEN


def admin_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role == "ada" else FORBIDDEN


def public_page(role, target):
    return OK


def home_page(role, target):
    """Staff land on their dashboard; clients and guardians are sent to their portal."""
    if role == "anon":
        return "redirect:/start/"
    return OK if role in STAFF else "redirect:/portal/"


def keepalive(role, target):
    return "status:401" if role == "anon" else "status:204"


def prescriber_page(role, target):
    """Prescriber-only writes (clearance, orders): any other role is refused outright, and a
    prescriber outside the client's care gets 404 as for any client they cannot see."""
    if role == "anon":
        return LOGIN
    if role != "priya":
        return FORBIDDEN
    return OK if target == "avery" else MISSING


def consent_page(role, target):
    """Presenting and reading consents: the practice admin for every client, a clinician for
    the clients in their care. The coordinator sees the status only, and gets 404 here as for a
    client outside their care."""
    if role == "anon":
        return LOGIN
    if role in ("cleo", "gail"):
        return FORBIDDEN
    if role == "ada":
        return OK
    on_team = {"avery": {"tess", "priya"}, "olive": {"colin"}}[target]
    return OK if role in on_team else MISSING


def clinician_page(role, target):
    """Written by the client's therapist or prescriber: others with a staff role but no clinical
    one are refused outright; a clinician outside the client's care gets 404."""
    if role == "anon":
        return LOGIN
    if role not in ("tess", "colin", "priya"):
        return FORBIDDEN
    on_team = {"avery": {"tess", "priya"}, "olive": {"colin"}}[target]
    return OK if role in on_team else MISSING


def author_only(role, target):
    """A therapist's psychotherapy process notes (docs/notes.md, "Process notes"): a note
    answers its author alone, and the pages of a client's notes only a therapist on the care
    team (each showing their own notes). Every other member of staff, the client's prescriber
    and the practice admin included, gets 404 as for a client outside their care; portal
    accounts are refused a staff page outright. Avery's notes are Tess's, Olive's Colin's."""
    if role == "anon":
        return LOGIN
    if role in ("cleo", "gail"):
        return FORBIDDEN
    return OK if role == {"avery": "tess", "olive": "colin"}[target] else MISSING


# Rules for pages about one client: requested for both target clients, and their OK answers
# must leave an audit row naming the client.
CLIENT_RULES = {client_page, clinical_page, prescriber_page, consent_page, clinician_page, author_only}


def portal_page(role, target):
    """A portal page a client or a guardian may open (schedule, preparation, consents): the
    client for their own record. Staff are refused outright; the matrix's guardian (Gail) is
    linked to Avery, who is an adult, so her guardianship gives her nothing: 404."""
    if role == "anon":
        return LOGIN
    if role in STAFF:
        return FORBIDDEN
    return OK if (role, target) == ("cleo", "avery") else MISSING


def portal_own_page(role, target):
    """A portal page for the client alone (measures, progress, journal): never a guardian."""
    return portal_page(role, target)


def portal_home(role, target):
    """The portal's front door (no client in the URL)."""
    if role == "anon":
        return LOGIN
    return FORBIDDEN if role in STAFF else OK


CLIENT_RULES |= {portal_page, portal_own_page}


# The invited outside prescriber (docs/access.md, "The invited outside prescriber"): Oscar, a
# prescriber from outside the practice on Avery's care team as prescriber (tests/
# matrix_outside_prescriber.py), Olive's not. Written out here and not read from the app, so that
# a page added to either list alone fails the matrix.
OUTSIDE = "oscar"
ROLES.append(OUTSIDE)
OUTSIDE_PRESCRIBER_PAGES = frozenset(
    {
        "home",
        "queue_session_alerts",
        "queue_clearances",
        "queue_orders",
        "queue_events",
        "queue_overrides",
        "medical:summary",
        "medical:screening_new",
        "medical:screening_detail",
        "medical:clearance_new",
        "medical:clearance_detail",
        "medical:clearance_revoke",
        "medical:order_new",
        "medical:order_detail",
        "medical:order_discontinue",
        "dosing:runbook",
        "dosing:live",
        "dosing:acknowledge",
        "dosing:medications_review",
        "dosing:adverse_event_review",
        "dosing:discharge_review",
    }
)


def outside_prescriber(name, rule, target, *, staff_page: bool, names_client: bool) -> str:
    """What Oscar gets. On the pages he may use, what Priya (the practice's prescriber on Avery's
    care team) gets: Avery's answered, Olive's 404, whatever open_caseload says. On every other
    page staff sign in for (`staff_page`): 404 when it names a client, 403 when not. The pages
    that are not staff pages (public, the portal, links that are their own key) answer him as
    they answer any member of staff."""
    if name in OUTSIDE_PRESCRIBER_PAGES or not staff_page:
        return rule("priya", target)
    return MISSING if names_client else FORBIDDEN
