"""What a page has read it does not read again (issue 12): the chart's readiness panel takes the
plan and sessions the Course card read, the pathway page's the plan it shows; the consent status
reads the published documents once for their versions and their re-consent floors; the estimates
due take the practice's settings row the request has. Each read again was a query a page paid on
every request, more than any other cost on PostgreSQL, where each is a round trip."""

import re

import pytest
from django.urls import reverse

from tests.test_course_position import make_plan
from tests.test_query_counts import count_queries


def reads(http, url) -> dict[str, int]:
    """How many SELECTs of each table one request makes (the table its FROM names first)."""
    http.get(url)
    counts: dict[str, int] = {}
    for sql in count_queries(http, url).queries:
        if found := re.match(r'SELECT .*? FROM "(\w+)"', sql):
            counts[found.group(1)] = counts.get(found.group(1), 0) + 1
    return counts


@pytest.mark.parametrize("with_plan", [True, False])
@pytest.mark.parametrize("name", ["clients:chart", "pathway:overview"])
def test_the_plan_and_the_consent_documents_are_read_once(login, tess, avery, name, with_plan):
    if with_plan:
        make_plan(avery, tess)
    counts = reads(login(tess), reverse(name, args=[avery.pk]))
    assert counts.get("pathway_courseplan") == 1
    assert counts.get("consent_consentdocument") == 1


def test_the_estimates_due_read_the_practices_settings_once(login, cora):
    assert reads(login(cora), reverse("estimates_due:list")).get("practice_practice") == 1
