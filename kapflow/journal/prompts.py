"""When the journal prompts fall after a medication session: at each of the practice's offsets
(default 2, 24 and 48 h) after the session ended. A pure function, shared by the portal (which
shows the prompts that have come due) and the reminders (which email an invitation for each)."""

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class PromptTime:
    visit_id: int
    hours: int
    due_at: datetime.datetime

    @property
    def key(self) -> str:
        """Stable across sweeps: one reminder per session and offset."""
        return f"journal:{self.visit_id}:{self.hours}"


def prompt_times(
    *, visit_id: int, session_ended_at: datetime.datetime, offsets: list[int]
) -> list[PromptTime]:
    return [
        PromptTime(visit_id, hours, session_ended_at + datetime.timedelta(hours=hours))
        for hours in sorted(offsets)
    ]


# What the client is invited to write about, by where the prompt falls among the practice's
# offsets (seed 002: integration looks at what came up, what stays, and what to carry forward).
# By position rather than by hour, so that a practice that moves its offsets keeps the arc.
FIRST_PROMPT = (
    "What stands out from today's session? A moment, an image, a feeling, a few words: whatever "
    "is still with you. There is no right way to write this."
)
MIDDLE_PROMPT = (
    "Which images, feelings or memories from the session are still present? Notice what has stayed "
    "with you, and what has already softened."
)
LAST_PROMPT = (
    "What would you like to carry forward from this session? Perhaps a small, practical change, "
    "something you could try in the coming days."
)


def prompt_text(*, hours: int, offsets: list[int]) -> str:
    """The words of the prompt at `hours` after a session, among the practice's `offsets`: the
    first offset looks back at the day, the last looks forward, any between look at what stays."""
    ordered = sorted(offsets)
    if not ordered or hours <= ordered[0]:
        return FIRST_PROMPT
    if hours >= ordered[-1]:
        return LAST_PROMPT
    return MIDDLE_PROMPT
