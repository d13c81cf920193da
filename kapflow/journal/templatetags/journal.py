from django import template

from kapflow.journal.selectors import is_journal_therapist, shared_count

register = template.Library()


@register.simple_tag(takes_context=True)
def journal_shared_count(context, client):
    """How many journal entries `client` has shared, for one of their therapists; None for
    anyone else (who may not open the journal page). One query, for a therapist only: the care
    team is already prefetched on every client page."""
    user = context["request"].user
    return shared_count(client) if is_journal_therapist(user, client) else None
