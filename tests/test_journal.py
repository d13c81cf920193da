"""The client's journal (issue 5, "Journal"): entries private by default and shared one at a
time at the client's choice; prompts after each medication session at the practice's offsets;
drafts saved as the client types; the therapist's read-only page of shared entries."""

import datetime
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.dosing.models import Runbook
from kapflow.journal.models import JournalEntry
from kapflow.journal.prompts import FIRST_PROMPT, LAST_PROMPT, MIDDLE_PROMPT, prompt_text
from kapflow.journal.selectors import journal_for, prompt_times_due
from kapflow.journal.services import MAX_CHARS
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories

ENDED = timezone.make_aware(datetime.datetime(2026, 6, 9, 13))  # a Tuesday, 1 pm local time


def at(hours: float) -> datetime.datetime:
    return ENDED + datetime.timedelta(hours=hours)


def session(client, clinician, *, ends=ENDED, status=Visit.Status.COMPLETED, discharged=None):
    visit = Visit.objects.create(
        cancel_reason="Unwell." if status == Visit.Status.CANCELLED else "",
        client=client,
        kind=Visit.Kind.MEDICATION,
        starts_at=ends - datetime.timedelta(minutes=150),
        ends_at=ends,
        modality=Visit.Modality.VIRTUAL,
        status=status,
        clinician=clinician,
        created_by=clinician,
    )
    if discharged is not None:
        Runbook.objects.create(visit=visit, discharged_at=discharged)
    return visit


def entry(client, body="The light on the water stayed with me.", *, shared=False, **fields):
    now = timezone.now()
    return JournalEntry.objects.create(
        client=client, body=body, written_at=now, updated_at=now, shared_at=now if shared else None, **fields
    )


@pytest.fixture
def portal(avery, cleo):
    """Avery with Cleo as her portal account."""
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    return avery


def urls(client, item=None):
    pk = client.pk
    return {
        "list": reverse("portal_journal:list", args=[pk]),
        "new": reverse("portal_journal:new", args=[pk]),
        "draft": reverse("portal_journal:draft", args=[pk]),
        "staff": reverse("journal:list", args=[pk]),
        **(
            {
                "entry": reverse("portal_journal:entry", args=[pk, item.pk]),
                "share": reverse("portal_journal:share", args=[pk, item.pk]),
                "unshare": reverse("portal_journal:unshare", args=[pk, item.pk]),
                "discard": reverse("portal_journal:discard", args=[pk, item.pk]),
            }
            if item is not None
            else {}
        ),
    }


# Privacy


def test_it_keeps_a_new_entry_private(portal, cleo, tess, login, audit_rows):
    response = login(cleo).post(urls(portal)["new"], {"body": "Something softened in me."})
    written = JournalEntry.objects.get(client=portal)
    assert response.status_code == 302 and response["Location"] == urls(portal, written)["entry"]
    assert written.body == "Something softened in me." and written.shared_at is None
    [row] = audit_rows("kapflow.journal.entry.written")
    assert row.actor == cleo and row.client == portal and "softened" not in str(row.detail)
    page = login(tess).get(urls(portal)["staff"])
    assert page.status_code == 200 and "softened" not in page.content.decode()
    assert list(page.context["entries"]) == []


def test_it_lists_private_and_shared_entries_with_their_badges(portal, cleo, login):
    entry(portal, "Kept to myself.")
    entry(portal, "For Tess to read.", shared=True)
    page = login(cleo).get(urls(portal)["list"]).content.decode()
    assert "Kept to myself." in page and "For Tess to read." in page
    assert page.count("Shared with your therapist") == 1 and "Private</span>" in page


def test_it_shares_one_entry_and_withdraws_it(portal, cleo, tess, login, audit_rows):
    shared, private = entry(portal, "Share this one."), entry(portal, "Not this one.")
    http = login(cleo)
    assert http.post(urls(portal, shared)["share"]).status_code == 302
    shared.refresh_from_db()
    assert shared.shared_at is not None
    assert [row.object_id for row in audit_rows("kapflow.journal.entry.shared")] == [str(shared.pk)]

    staff = login(tess).get(urls(portal)["staff"])
    text = staff.content.decode()
    assert "Share this one." in text and "Not this one." not in text
    [read] = audit_rows("kapflow.journal.shared.read")
    assert read.actor == tess and read.detail == {"entries": [shared.pk]}
    assert audit_rows("kapflow.journal.shared.viewed")[0].client == portal

    assert http.post(urls(portal, shared)["unshare"]).status_code == 302
    shared.refresh_from_db()
    assert shared.shared_at is None and shared.body == "Share this one."
    assert len(audit_rows("kapflow.journal.entry.unshared")) == 1
    assert "Share this one." not in login(tess).get(urls(portal)["staff"]).content.decode()
    private.refresh_from_db()
    assert private.shared_at is None


def test_it_refuses_to_change_a_shared_entry(portal, cleo, login):
    shared = entry(portal, "As shared.", shared=True)
    http = login(cleo)
    response = http.post(urls(portal, shared)["entry"], {"body": "Rewritten."})
    assert response.status_code == 200 and "Stop sharing it first" in response.content.decode()
    fragment = http.post(urls(portal)["draft"], {"entry": shared.pk, "body": "Rewritten."}).content.decode()
    assert "Not saved" in fragment
    shared.refresh_from_db()
    assert (shared.body, shared.draft, shared.draft_saved_at) == ("As shared.", "", None)
    page = http.get(urls(portal, shared)["entry"]).content.decode()
    assert "<textarea" not in page and "Stop sharing" in page


def test_it_refuses_to_share_a_draft_or_an_entry_with_unsaved_changes(portal, cleo, login):
    draft = JournalEntry.objects.create(client=portal, draft="half", draft_saved_at=timezone.now())
    changed = entry(portal, "Saved text.", draft="Saved text, then more", draft_saved_at=timezone.now())
    http = login(cleo)
    http.post(urls(portal, draft)["share"])
    http.post(urls(portal, changed)["share"])
    assert not JournalEntry.objects.shared().exists()
    again = http.post(urls(portal, changed)["share"], follow=True).content.decode()
    assert "Save or discard them first" in again


@pytest.fixture
def minor(tess, cleo, gail):
    """A minor whose own portal account is Cleo's, with Gail as guardian who can consent."""
    client = factories.make_client(first_name="Mina", age=16, therapist=tess)
    client.portal_user = cleo
    client.save(update_fields=["portal_user"])
    guardian = factories.add_guardian(client)
    guardian.portal_user = gail
    guardian.save(update_fields=["portal_user"])
    return client


def test_a_guardian_gets_404_on_every_journal_page_even_for_a_minor(minor, cleo, gail, tess, login):
    item = entry(minor, "Mine alone.", shared=True)
    gets = [urls(minor, item)[name] for name in ("list", "new", "entry")]
    posts = [urls(minor, item)[name] for name in ("draft", "share", "unshare", "discard")]
    guardian = login(gail)
    for url in gets:
        assert guardian.get(url).status_code == 404, url
    for url in posts:
        assert guardian.post(url, {"body": "x"}).status_code == 404, url
    assert login(cleo).get(urls(minor)["list"]).status_code == 200  # the minor themself may
    item.refresh_from_db()
    assert item.shared_at is not None


def test_another_clients_entry_answers_404(portal, olive, cleo, login):
    theirs = entry(olive, "Olive's.")
    http = login(cleo)
    mine_url_their_entry = reverse("portal_journal:entry", args=[portal.pk, theirs.pk])
    assert http.get(mine_url_their_entry).status_code == 404
    assert http.post(reverse("portal_journal:share", args=[portal.pk, theirs.pk])).status_code == 404
    assert http.get(urls(olive)["list"]).status_code == 404
    # A tampered hidden id does not reach Olive's entry: the text goes into a new entry of Avery's.
    http.post(urls(portal)["draft"], {"entry": theirs.pk, "body": "typed"})
    theirs.refresh_from_db()
    assert theirs.draft == "" and JournalEntry.objects.get(client=portal).draft == "typed"


@pytest.mark.parametrize("who", ["priya", "cora", "ada", "colin", "cleo", "gail"])
def test_only_the_clients_therapists_read_the_shared_entries(who, portal, login, request):
    entry(portal, "Shared.", shared=True)
    response = login(request.getfixturevalue(who)).get(urls(portal)["staff"])
    assert response.status_code == (404 if who == "colin" else 403)


def test_an_open_caseload_does_not_open_the_journal_to_other_therapists(portal, colin, login):
    practice = Practice.load()
    practice.open_caseload = True
    practice.save()
    entry(portal, "Shared.", shared=True)
    assert login(colin).get(reverse("clients:chart", args=[portal.pk])).status_code == 200
    assert login(colin).get(urls(portal)["staff"]).status_code == 404


def test_the_admin_who_is_also_the_clients_therapist_reads_them(portal, login):
    owner = factories.make_user("Dana Owner", roles=("is_practice_admin", "is_therapist"))
    portal.care_team.create(user=owner, role="therapist")
    entry(portal, "For my therapists.", shared=True)
    assert "For my therapists." in login(owner).get(urls(portal)["staff"]).content.decode()


def test_the_chart_links_the_journal_with_the_shared_count_for_a_therapist_only(portal, tess, priya, login):
    entry(portal, "one", shared=True)
    entry(portal, "two", shared=True)
    entry(portal, "private")
    chart = reverse("clients:chart", args=[portal.pk])
    assert "2 shared" in login(tess).get(chart).content.decode()
    page = login(priya).get(chart).content.decode()
    assert urls(portal)["staff"] not in page


# Drafts


def test_it_saves_a_draft_as_the_client_types_then_saves_the_entry(portal, cleo, login, audit_rows):
    with time_machine.travel(timezone.make_aware(datetime.datetime(2026, 6, 10, 10, 42)), tick=False):
        http = login(cleo)
        first = http.post(urls(portal)["draft"], {"body": "I keep"}, headers={"HX-Request": "true"})
        draft = JournalEntry.objects.get(client=portal)
        fragment = first.content.decode()
        assert f'name="entry" value="{draft.pk}"' in fragment and "Draft saved 10:42" in fragment
        assert (draft.draft, draft.body, draft.written_at) == ("I keep", "", None)

        http.post(urls(portal)["draft"], {"entry": draft.pk, "body": "I keep thinking of the sea."})
        assert JournalEntry.objects.count() == 1
        draft.refresh_from_db()
        assert draft.draft == "I keep thinking of the sea."
        assert len(audit_rows("kapflow.journal.draft.saved")) == 2

        # The same text again writes nothing.
        http.post(urls(portal)["draft"], {"entry": draft.pk, "body": "I keep thinking of the sea."})
        assert len(audit_rows("kapflow.journal.draft.saved")) == 2

        # Save on the new-entry page, with the id the draft brought back, saves into the same entry.
        http.post(urls(portal)["new"], {"entry": draft.pk, "body": "I keep thinking of the sea."})
        draft.refresh_from_db()
        assert JournalEntry.objects.count() == 1
        assert (draft.body, draft.draft, draft.draft_saved_at) == ("I keep thinking of the sea.", "", None)
        assert draft.written_at is not None


def test_typing_into_a_saved_entry_leaves_its_saved_text_until_save(portal, cleo, login, audit_rows):
    item = entry(portal, "First thoughts.")
    http = login(cleo)
    http.post(urls(portal)["draft"], {"entry": item.pk, "body": "First thoughts, and second."})
    item.refresh_from_db()
    assert item.body == "First thoughts." and item.draft == "First thoughts, and second."
    assert "First thoughts, and second." in http.get(urls(portal, item)["entry"]).content.decode()
    http.post(urls(portal, item)["discard"])
    item.refresh_from_db()
    assert (item.body, item.draft, item.draft_saved_at) == ("First thoughts.", "", None)
    http.post(urls(portal, item)["entry"], {"body": "Second thoughts."})
    item.refresh_from_db()
    assert item.body == "Second thoughts."
    assert len(audit_rows("kapflow.journal.entry.revised")) == 1


def test_discarding_a_never_saved_draft_removes_it(portal, cleo, login, audit_rows):
    draft = JournalEntry.objects.create(client=portal, draft="never mind", draft_saved_at=timezone.now())
    response = login(cleo).post(urls(portal, draft)["discard"])
    assert response.status_code == 302 and not JournalEntry.objects.exists()
    assert len(audit_rows("kapflow.journal.draft.discarded")) == 1


def test_an_empty_draft_request_creates_nothing(portal, cleo, login):
    response = login(cleo).post(urls(portal)["draft"], {"body": "   "})
    assert response.status_code == 200 and not JournalEntry.objects.exists()


def test_saving_nothing_says_what_to_do_and_keeps_the_draft(portal, cleo, login):
    draft = JournalEntry.objects.create(client=portal, draft="", draft_saved_at=timezone.now())
    response = login(cleo).post(urls(portal, draft)["entry"], {"body": "  "})
    assert response.status_code == 200 and "Write something before saving" in response.content.decode()
    draft.refresh_from_db()
    assert draft.written_at is None


# Prompts


def test_prompts_come_due_at_two_twenty_four_and_forty_eight_hours(portal, tess):
    visit = session(portal, tess)
    practice = Practice.load()
    shown = {}
    for hours in (1.9, 2, 23.9, 24, 47.9, 48, 200):
        journal = journal_for(portal, practice=practice, now=at(hours))
        shown[hours] = [p.hours for p in journal.waiting]
    assert shown == {
        1.9: [],
        2: [2],
        23.9: [2],
        24: [24, 2],
        47.9: [24, 2],
        48: [48, 24, 2],
        200: [48, 24, 2],
    }
    [latest, middle, first] = journal_for(portal, practice=practice, now=at(48)).waiting
    assert (first.text, middle.text, latest.text) == (FIRST_PROMPT, MIDDLE_PROMPT, LAST_PROMPT)
    assert latest.session == visit and latest.due_at == at(48)


def test_prompts_follow_the_discharge_when_it_was_recorded(portal, tess):
    session(portal, tess, discharged=at(1))  # left an hour after the planned end
    journal = journal_for(portal, practice=Practice.load(), now=at(2.5))
    assert journal.waiting == []
    assert [p.due_at for p in journal_for(portal, practice=Practice.load(), now=at(3)).waiting] == [at(3)]


def test_prompts_follow_the_practices_offsets(portal, tess):
    session(portal, tess)
    practice = Practice.load()
    practice.journal_prompt_hours = "6, 36"
    practice.save()
    assert [p.hours for p in journal_for(portal, practice=practice, now=at(5)).waiting] == []
    journal = journal_for(portal, practice=practice, now=at(36))
    assert [(p.hours, p.text) for p in journal.waiting] == [(36, LAST_PROMPT), (6, FIRST_PROMPT)]


def test_only_completed_medication_sessions_bring_prompts(portal, tess):
    session(portal, tess, status=Visit.Status.SCHEDULED)
    session(portal, tess, status=Visit.Status.CANCELLED, ends=at(-100))
    assert journal_for(portal, practice=Practice.load(), now=at(100)).waiting == []


def test_an_answered_prompt_stops_waiting_and_older_sessions_move_to_earlier(portal, tess):
    older = session(portal, tess, ends=at(-24 * 7))
    latest = session(portal, tess)
    entry(portal, visit=latest, prompt_hours=2, prompt_text=FIRST_PROMPT)
    journal = journal_for(portal, practice=Practice.load(), now=at(30))
    assert [p.hours for p in journal.waiting] == [24]
    earlier = [(p.session, p.hours, p.answered) for p in journal.earlier]
    assert earlier == [(latest, 2, True), (older, 48, False), (older, 24, False), (older, 2, False)]


def test_write_about_this_answers_the_prompt(portal, tess, cleo, login):
    visit = session(portal, tess)
    http = login(cleo)
    with time_machine.travel(at(25), tick=False):
        listing = http.get(urls(portal)["list"]).content.decode()
        link = f"{urls(portal)['new']}?visit={visit.pk}&amp;hours=24"
        assert "Write about this" in listing and link in listing
        editor = http.get(link.replace("&amp;", "&")).content.decode()
        assert "images, feelings or memories" in editor
        http.post(urls(portal)["new"], {"visit": visit.pk, "hours": 24, "body": "The colours."})
        written = JournalEntry.objects.get()
        assert (written.visit, written.prompt_hours, written.prompt_text) == (visit, 24, MIDDLE_PROMPT)
        assert [p.hours for p in journal_for(portal, practice=Practice.load(), now=at(25)).waiting] == [2]


def test_a_prompt_not_yet_due_or_not_theirs_is_not_attached(portal, olive, tess, colin, cleo, login):
    mine, theirs = session(portal, tess), session(olive, colin)
    http = login(cleo)
    with time_machine.travel(at(3), tick=False):
        http.post(urls(portal)["new"], {"visit": mine.pk, "hours": 24, "body": "Too soon."})
        http.post(urls(portal)["new"], {"visit": theirs.pk, "hours": 2, "body": "Not mine."})
        http.post(urls(portal)["new"], {"visit": mine.pk, "hours": 5, "body": "No such offset."})
    assert list(JournalEntry.objects.values_list("visit", "prompt_hours")) == [(None, None)] * 3


def test_prompt_text_goes_by_position_among_the_offsets():
    assert prompt_text(hours=2, offsets=[2]) == FIRST_PROMPT
    assert prompt_text(hours=12, offsets=[2, 12, 24, 48]) == MIDDLE_PROMPT
    assert prompt_text(hours=72, offsets=[2, 72]) == LAST_PROMPT


# prompt_times_due, for the reminders


def test_prompt_times_due_gives_the_times_in_the_interval(portal, olive, tess, colin):
    mine = session(portal, tess)
    theirs = session(olive, colin, ends=at(1), discharged=at(2))
    session(portal, tess, ends=at(3), status=Visit.Status.SCHEDULED)
    due = prompt_times_due(at(24), at(2))
    assert [(c, t.visit_id, t.hours, t.due_at) for c, t in due] == [
        (olive, theirs.pk, 2, at(4)),
        (portal, mine.pk, 24, at(24)),
    ]
    assert prompt_times_due(at(2), at(1.5))[0][1].key == f"journal:{mine.pk}:2"
    assert prompt_times_due(at(1.9), at(0)) == []
    assert prompt_times_due(at(48), at(48)) == []


def test_prompt_times_due_follows_the_practices_offsets(portal, tess):
    session(portal, tess)
    practice = Practice.load()
    practice.journal_prompt_hours = "6, 30"
    practice.save()
    assert [t.hours for _c, t in prompt_times_due(at(40), at(0))] == [6, 30]


def test_prompt_times_due_answers_in_constant_queries(portal, tess, django_assert_num_queries):
    session(portal, tess)
    Practice.load()
    with django_assert_num_queries(2):
        assert len(prompt_times_due(at(48), at(0))) == 3
    for n in range(20):
        client = factories.make_client(therapist=tess)
        session(client, tess, ends=at(-n / 10))
    with django_assert_num_queries(2):
        assert len(prompt_times_due(at(48), at(0))) == 63


# Query counts and hostile input


def _count(http, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert http.get(url).status_code == 200
    return len(captured.captured_queries)


def _grow(client, clinician, n):
    for k in range(n):
        visit = session(client, clinician, ends=at(-24 * 7 * (k + 1)))
        entry(client, f"Entry {k}", shared=True, visit=visit, prompt_hours=2, prompt_text=FIRST_PROMPT)
        entry(client, f"Private {k}")
        JournalEntry.objects.create(client=client, draft=f"Draft {k}", draft_saved_at=timezone.now())


def test_the_portal_journal_and_the_staff_page_run_constant_queries(portal, tess, cleo, login):
    client_http, staff_http = login(cleo), login(tess)
    for http in (client_http, staff_http):  # the first request of a session checks more
        http.get(urls(portal)["list"])
    _grow(portal, tess, 1)
    small = _count(client_http, urls(portal)["list"]), _count(staff_http, urls(portal)["staff"])
    _grow(portal, tess, 12)
    large = _count(client_http, urls(portal)["list"]), _count(staff_http, urls(portal)["staff"])
    assert small == large
    page = client_http.get(urls(portal)["list"])
    assert len(page.context["journal"].entries) == 39
    assert len(staff_http.get(urls(portal)["staff"]).context["entries"]) == 13


@pytest.mark.parametrize("entry_id", ["99999999999999999999", "2147483648", "0"])
def test_huge_or_unknown_entry_ids_answer_404(portal, cleo, login, entry_id):
    http = login(cleo)
    for name in ("entry", "share", "unshare", "discard"):
        url = f"{urls(portal)['list']}{entry_id}/" + ("" if name == "entry" else f"{name}/")
        response = http.post(url) if name != "entry" else http.get(url)
        assert response.status_code == 404, url
    assert http.get(f"/portal/{entry_id}/journal/").status_code == 404
    assert login(cleo).get(f"/clients/{entry_id}/journal/").status_code == 403


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"entry": "abc", "visit": "x", "hours": "-1", "body": "kept"},
        {"entry": "99999999999999999999", "visit": "99999999999999999999", "hours": "99999999999"},
        {"body": ["a", "b"], "entry": ""},
        {"body": "\x00 null byte"},
    ],
)
def test_garbage_posts_never_fail(portal, tess, cleo, login, data):
    visit = session(portal, tess)
    http = login(cleo)
    for url in (
        urls(portal)["new"],
        urls(portal)["draft"],
        f"{urls(portal)['new']}?visit={visit.pk}&hours=2",
    ):
        response = http.post(url, data)
        assert response.status_code in (200, 302), (url, data, response.status_code)
    staff = login(tess).get(urls(portal)["staff"] + "?page=abc")
    assert staff.status_code == 200


def test_a_too_long_entry_comes_back_with_the_text_and_says_what_to_do(portal, cleo, login):
    text = "word " * (MAX_CHARS // 5 + 1)
    http = login(cleo)
    response = http.post(urls(portal)["new"], {"body": text})
    page = response.content.decode()
    assert response.status_code == 200 and "Split it into two entries" in page and text.strip() in page
    assert not JournalEntry.objects.filter(written_at__isnull=False).exists()
    fragment = http.post(urls(portal)["draft"], {"body": text}).content.decode()
    assert "Not saved" in fragment and "Split it" in fragment


def test_get_on_a_write_is_refused(portal, cleo, login):
    item = entry(portal)
    http = login(cleo)
    for name in ("share", "unshare", "discard"):
        assert http.get(urls(portal, item)[name]).status_code == 405
    assert http.get(urls(portal)["draft"]).status_code == 405


@pytest.mark.parametrize(
    "query", ["?visit=abc&hours=2", "?visit=99999999999999999999&hours=2", "?visit=1&hours=-5", "?hours="]
)
def test_a_garbage_prompt_link_opens_a_plain_new_entry(portal, tess, cleo, login, query):
    session(portal, tess)
    response = login(cleo).get(urls(portal)["new"] + query)
    assert response.status_code == 200 and response.context["prompt"] is None


# The portal's to-do list and the demo


def test_waiting_prompts_are_offered_as_to_dos_to_the_client_alone(portal, tess, cleo, gail):
    from kapflow.journal.portal import todos

    visit = session(portal, tess)
    with time_machine.travel(at(25), tick=False):
        draft = JournalEntry.objects.create(
            client=portal,
            visit=visit,
            prompt_hours=2,
            prompt_text=FIRST_PROMPT,
            draft="so",
            draft_saved_at=at(3),
        )
        offered = todos(portal, cleo)
        assert [(t.kind, t.due_at) for t in offered] == [("journal", at(24)), ("journal", at(2))]
        assert offered[0].url == f"{urls(portal)['new']}?visit={visit.pk}&hours=24"
        assert offered[1].url == urls(portal, draft)["entry"]
        assert todos(portal, gail) == []


def test_the_demo_gives_its_portal_client_a_journal(tess, cleo):
    from kapflow.accounts.models import User
    from kapflow.demo.journal import add_journal_story
    from kapflow.demo.portal import CLIENT_EMAIL

    user = User.objects.create_user(CLIENT_EMAIL, full_name="Omar Rossi", is_client=True)
    client = factories.make_client(first_name="Omar", therapist=tess, portal_user=user)
    for days in (20, 10, 3):
        session(client, tess, ends=timezone.now() - datetime.timedelta(days=days))
    add_journal_story({})
    entries = list(client.journal_entries.all())
    assert len([e for e in entries if e.is_shared]) == 2
    assert len([e for e in entries if e.is_saved and not e.is_shared]) == 3
    assert len([e for e in entries if not e.is_saved and e.has_unsaved_changes]) == 1
    journal = journal_for(client, practice=Practice.load(), now=timezone.now())
    assert [p.hours for p in journal.waiting] == [48, 24]  # the 24 h one has the draft
    add_journal_story({})
    assert client.journal_entries.count() == len(entries)


def test_a_draft_and_a_save_from_the_same_page_make_one_entry(portal, cleo, login, avery):
    """The editor page's key: Save sent before the draft's answer came back (the draft request
    had no entry id yet) goes into the draft's entry, and a late draft adds nothing."""
    http = login(cleo)
    key = "3f1c2a8e-5b7d-4c1e-9a2b-6d8e0f4a1b2c"
    http.post(reverse("portal_journal:draft", args=[avery.pk]), {"body": "First words", "key": key})
    http.post(reverse("portal_journal:new", args=[avery.pk]), {"body": "First words, kept", "key": key})
    http.post(reverse("portal_journal:draft", args=[avery.pk]), {"body": "First words, kept", "key": key})
    (entry,) = JournalEntry.objects.filter(client=avery)
    assert entry.body == "First words, kept" and not entry.has_unsaved_changes


def test_a_key_from_another_clients_entry_starts_a_new_entry(portal, cleo, login, avery, olive):
    other = JournalEntry.objects.create(
        client=olive, body="Not yours", key="3f1c2a8e-5b7d-4c1e-9a2b-6d8e0f4a1b2c"
    )
    http = login(cleo)
    response = http.post(
        reverse("portal_journal:new", args=[avery.pk]), {"body": "Mine", "key": str(other.key)}
    )
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.body == "Not yours" and other.client == olive
    assert JournalEntry.objects.get(client=avery).body == "Mine"


def test_the_first_draft_gives_the_page_the_entrys_address(portal, cleo, login, avery):
    http = login(cleo)
    response = http.post(
        reverse("portal_journal:draft", args=[avery.pk]), {"body": "Begun", "key": str(uuid.uuid4())}
    )
    entry = JournalEntry.objects.get(client=avery)
    assert response["HX-Replace-Url"] == reverse("portal_journal:entry", args=[avery.pk, entry.pk])
    later = http.post(
        reverse("portal_journal:draft", args=[avery.pk]), {"body": "Begun, more", "entry": entry.pk}
    )
    assert "HX-Replace-Url" not in later
