"""Views reach client data only through kapflow.clients.access (client_for / clients_for),
which scopes by the person asking and writes the audit row. This test reads every view module
and fails on any other way in."""

import re
from pathlib import Path

import kapflow

CLIENT_MODELS = ("Client", "Guardian", "EmergencyContact", "CareTeamMember", "OutsideProvider")
_NAMES = "|".join(CLIENT_MODELS)
FORBIDDEN = re.compile(
    rf"\b(?:{_NAMES})\.objects\b|get_object_or_404\(\s*(?:{_NAMES})\b|get_list_or_404\(\s*(?:{_NAMES})\b"
)
ROOT = Path(kapflow.__file__).parent


def view_modules():
    return sorted(p for p in ROOT.rglob("*.py") if p.name == "views.py" or p.parent.name == "views")


def test_it_finds_the_view_modules():
    names = {str(p.relative_to(ROOT)) for p in view_modules()}
    assert {"views.py", "clients/views.py", "inquiries/views.py", "accounts/views.py"} <= names


def test_no_view_reaches_a_client_model_except_through_the_scoping_helper():
    offences = []
    for path in view_modules():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line):
                offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offences == [], "use kapflow.clients.access.client_for / clients_for instead"


def test_the_lint_recognises_an_offence():
    assert FORBIDDEN.search("client = get_object_or_404(Client, pk=pk)")
    assert FORBIDDEN.search("Guardian.objects.filter(client=c)")
    assert not FORBIDDEN.search("client.guardians.all()")
