"""What the client pages write row by row now that the views make each row once (issue 12): the
measures page's results and latest cards, the chart's Measures card, the caseload's rows and the
progress chart's dots, each as it was when the template made it."""

import datetime
import html

from django.urls import reverse
from django.utils import timezone

from kapflow.measures.instruments import GAD7, PHQ9
from kapflow.measures.models import Response
from kapflow.measures.progress import progress_context
from tests import factories


def respond(client, instrument, total, when, *, entered_by=None, context=Response.Context.OTHER):
    return Response.objects.create(
        client=client,
        instrument=instrument.key,
        version="1",
        answers={},
        total=total,
        band=instrument.band_for(total).label,
        completed_at=when,
        entered_by=entered_by,
        context=context,
    )


def test_the_measures_page_lists_every_result_and_each_instruments_latest(avery, tess, login):
    now = timezone.now()
    old = respond(avery, PHQ9, 19, now - datetime.timedelta(days=30), context=Response.Context.BASELINE)
    new = respond(avery, PHQ9, 8, now - datetime.timedelta(days=2), entered_by=tess)
    gad = respond(avery, GAD7, 11, now - datetime.timedelta(days=10))
    page = login(tess).get(reverse("measures:list", args=[avery.pk])).content.decode()

    for response in (old, new, gad):
        url = reverse("measures:detail", args=[avery.pk, response.pk])
        local = timezone.localtime(response.completed_at)
        assert f'<a href="{url}">{local:%b} {local.day}, {local.year}</a>' in page
    assert "<td>Baseline</td>" in page and "<td>Other</td>" in page
    assert f"<td>{tess.full_name}, for the client</td>" in page
    assert page.count("<td>The client</td>") == 2
    # The latest cards: PHQ-9's newest (8, not 19), then GAD-7, newest first.
    cards = page.split('<div class="grid">', 1)[1].split("</div>", 1)[0]
    assert '<p class="stat">8</p>' in cards and '<p class="stat">19</p>' not in cards
    assert cards.index("Latest PHQ-9") < cards.index("Latest GAD-7")


def test_the_charts_measures_card_shows_each_instruments_latest(avery, tess, login):
    now = timezone.now()
    respond(avery, GAD7, 11, now - datetime.timedelta(days=10))
    respond(avery, PHQ9, 19, now - datetime.timedelta(days=30))
    latest = respond(avery, PHQ9, 8, now - datetime.timedelta(days=2))
    page = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    card = page.split('id="measures-h"', 1)[1].split("</section>", 1)[0]
    url = reverse("measures:detail", args=[avery.pk, latest.pk])
    assert f'<a href="{url}">PHQ-9</a><span><strong>8</strong> Mild' in card
    assert "<strong>19</strong>" not in card
    assert card.index("PHQ-9") < card.index("GAD-7")


def test_the_charts_consent_card_and_readiness_panel_agree(avery, tess, login):
    page = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    card = page.split('id="consent-h"', 1)[1].split("</section>", 1)[0]
    panel = page.split('id="readiness-h"', 1)[1].split("</section>", 1)[0]
    assert "KAP informed consent" in card
    # Nothing signed yet: the card says why, in the words of the panel's consent gate (both read
    # from the one consent status the chart reads).
    reason = card.split('<p class="notice notice--error">', 1)[1].split("</p>", 1)[0]
    assert reason and f'<span class="gate-reason">{reason}</span>' in panel


def test_a_caseload_row_shows_the_client_as_before(tess, login):
    today = timezone.localdate()
    born = today.replace(year=today.year - 16) - datetime.timedelta(days=3)
    minor = factories.make_client(
        first_name="Zoë", last_name="Ng", preferred_name="Zee", therapist=tess, date_of_birth=born
    )
    page = login(tess).get(reverse("clients:caseload")).content.decode()
    row = page.split(reverse("clients:chart", args=[minor.pk]), 1)[1].split("</tr>", 1)[0]
    assert '">Ng, Zoë</a> <span class="muted">“Zee”</span>' in row
    assert f'{born:%b} {born.day}, {born.year} <span class="muted">(16)</span>' in row
    assert "<td>Consultation</td>" in row
    assert f"<td>{tess.full_name}</td>" in row
    assert "Minor" in row and "No guardian who can consent" in row and "No emergency contact" in row


def test_the_progress_dots_escape_what_they_write(avery):
    respond(avery, PHQ9, 12, timezone.now() - datetime.timedelta(days=1))
    chart = progress_context(avery)["instruments"][0]["chart"]
    point = chart["points"][0]
    assert f'<circle cx="{point["x"]}" cy="{point["y"]}" r="5"' in chart["points_svg"]
    assert f"<title>{html.escape(point['date'])}: 12, Moderate</title>" in chart["points_svg"]
