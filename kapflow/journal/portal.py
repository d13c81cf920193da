"""The journal's contribution to the portal's to-do list (kapflow.portal.todo): the prompts
waiting after the client's latest medication session. The client's own: nothing for a guardian."""

from django.urls import reverse
from django.utils import timezone

from kapflow.journal.selectors import journal_for
from kapflow.lib.todo import Todo
from kapflow.practice.models import Practice


def todos(client, user, *, practice=None) -> list[Todo]:
    """Two queries (and the practice row, unless given), whatever the number of sessions and
    entries."""
    if client.portal_user_id != user.pk:
        return []
    journal = journal_for(client, practice=practice or Practice.load(), now=timezone.now())
    base = reverse("portal_journal:new", args=[client.pk])
    return [
        Todo(
            kind="journal",
            title="Journal: a prompt is waiting",
            url=(
                reverse("portal_journal:entry", args=[client.pk, prompt.draft.pk])
                if prompt.draft
                else f"{base}?visit={prompt.session.pk}&hours={prompt.hours}"
            ),
            due_at=prompt.due_at,
            detail=prompt.text,
        )
        for prompt in journal.waiting
    ]
