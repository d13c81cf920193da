"""The demo client's journal: entries answering the prompts after their medication sessions,
some shared with their therapist and some private, a free entry and a draft in progress, with
the latest session's last prompt still waiting. Fictional throughout."""

import datetime

from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.demo.portal import CLIENT_EMAIL
from kapflow.journal.models import JournalEntry
from kapflow.journal.prompts import prompt_text
from kapflow.journal.selectors import completed_sessions
from kapflow.practice.models import Practice

# (which session, oldest first; which prompt, by position among the offsets; shared; text)
ANSWERS = [
    (
        0,
        0,
        True,
        "Mostly I remember the feeling of being held by the music, and then, out of nowhere, my "
        "grandmother's kitchen. I did not expect to cry about her. It felt clean, not heavy.",
    ),
    (
        0,
        -1,
        False,
        "I want to stop answering work email after dinner. Small, but I noticed how tight my chest "
        "gets when I do it. Trying it this week.",
    ),
    (
        1,
        1,
        True,
        "The image of the lake is still with me: very still water, and me standing at the edge "
        "without needing to go in. The fear about the job has softened a little. The sadness hasn't, "
        "but it feels more like mine.",
    ),
    (
        -1,
        0,
        False,
        "Tired and a bit raw. The part of me that always has to be the competent one showed up, "
        "and for once I let it sit down.",
    ),
]
FREE_ENTRY = (
    "Not about a prompt. Walked by the river this morning and realised I had not checked my phone "
    "for an hour. Writing it down so I remember it happened."
)
DRAFT = "Still present today: the warmth in my hands, and the"


def add_journal_story(staff) -> None:
    """Added once, for the demo's portal client, when they have completed medication sessions."""
    client = getattr(User.objects.filter(email=CLIENT_EMAIL).first(), "portal_client", None)
    if client is None or client.journal_entries.exists():
        return
    sessions = sorted(completed_sessions().filter(client=client), key=lambda s: s.ended)
    offsets = sorted(Practice.load().journal_prompt_offsets)
    if not sessions or not offsets:
        return
    now = timezone.now()
    answered = set()
    for which, position, shared, text in ANSWERS:
        if which >= len(sessions):
            continue
        session, hours = sessions[which], offsets[position]
        if (session.pk, hours) in answered or session.ended + datetime.timedelta(hours=hours) > now:
            continue  # answered already, or that prompt has not come due yet
        answered.add((session.pk, hours))
        written = min(session.ended + datetime.timedelta(hours=hours, minutes=40), now)
        JournalEntry.objects.create(
            client=client,
            visit=session,
            prompt_hours=hours,
            prompt_text=prompt_text(hours=hours, offsets=offsets),
            body=text,
            created_at=written - datetime.timedelta(minutes=25),
            written_at=written,
            updated_at=written,
            shared_at=written + datetime.timedelta(minutes=5) if shared else None,
        )
    free = min(sessions[0].ended + datetime.timedelta(days=3), now)
    JournalEntry.objects.create(
        client=client, body=FREE_ENTRY, created_at=free, written_at=free, updated_at=free
    )
    latest = sessions[-1]
    if (
        len(offsets) > 1
        and (latest.pk, offsets[1]) not in answered
        and latest.ended + datetime.timedelta(hours=offsets[1]) <= now
    ):
        began = min(latest.ended + datetime.timedelta(hours=offsets[1], minutes=15), now)
        JournalEntry.objects.create(
            client=client,
            visit=latest,
            prompt_hours=offsets[1],
            prompt_text=prompt_text(hours=offsets[1], offsets=offsets),
            draft=DRAFT,
            created_at=began,
            draft_saved_at=began,
        )
