"""What a release of information lets the practice send: the categories of the record a client
names when they sign one (45 CFR 164.508(c)(1)(i) asks for the information to be described
specifically), and that every letter lists before it is made (docs/letters.md).

Psychotherapy process notes and the client's journal are not a category: no release signed in
kapflow covers them, and nothing kapflow sends includes them (45 CFR 164.508(a)(2) asks for an
authorization of their own).
"""

from django.db import models

# A release's purpose when the signer names none: enough when the client asks for the release
# themselves (45 CFR 164.508(c)(1)(iv)).
AT_THE_CLIENTS_REQUEST = "At the client's request"


class Category(models.TextChoices):
    COURSE = "course", "Dates of care and a summary of the course of treatment"
    HISTORY = "history", "Why treatment is sought, previous treatment and goals, as told at the consultation"
    MEDICAL = "medical", "Screening findings, medical clearance and current medicines"
    SESSIONS = "sessions", "Medication sessions: doses, vital signs, ratings and discharge"
    MEASURES = "measures", "Symptom questionnaire scores (PHQ-9, GAD-7)"
    ADVERSE_EVENTS = "adverse_events", "Adverse events and how they were handled"


def covers(granted, asked) -> bool:
    """Whether every category asked for is among those granted."""
    return set(asked) <= set(granted)


def describe(categories) -> list[str]:
    """The categories' words, in the order of `Category`, for a page or a letter."""
    chosen = set(categories)
    return [label for value, label in Category.choices if value in chosen]
