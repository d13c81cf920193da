"""The practice export in the access matrix (tests/test_access_matrix.py): its page and its
download are the practice admin's alone; everyone else signed in gets 403 (without first being
asked to confirm who they are), a visitor is sent to sign in. The admin's download first asks
for a fresh confirmation (a redirect, which the matrix counts as answered); that it then streams
the archive is tests/test_practice_export.py's."""

from tests.access_rules import admin_page

MATRIX = {
    "ops_export:page": ("get", admin_page, None),
    "ops_export:practice_export_download": ("post", admin_page, None),
}


def build(world):
    pass
