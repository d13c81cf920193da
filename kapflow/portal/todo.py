"""The client's to-do list on the portal: forms to fill and consents to sign.

Each feature that asks something of a client contributes a provider, a function
`provider(client, user, *, practice=None) -> list[Todo]` (Todo is kapflow.lib.todo's), named in
PROVIDERS; `practice` is the request's settings row (practice_for), which a provider that needs
it reads itself when it is not given. The portal's home page shows them together, soonest due
first. A provider must answer in a constant number of queries."""

import datetime

from django.utils.module_loading import import_string

from kapflow.lib.todo import Todo

# Dotted paths of the providers, in the order their kinds are listed when due at the same time.
PROVIDERS = [
    "kapflow.consent.portal.todos",
    "kapflow.measures.portal.todos",
    "kapflow.journal.portal.todos",
]


# The providers whose to-dos a guardian sees for a minor (docs/clinical.md: a guardian signs consents
# for the minor; measures are the client's own).
GUARDIAN_PROVIDERS = {"kapflow.consent.portal.todos"}


def todos_for(client, user, *, practice=None) -> list[Todo]:
    """Everything the portal asks of this person for this client, soonest due first."""
    guardian_view = client.portal_user_id != user.pk
    todos = []
    for path in PROVIDERS:
        if guardian_view and path not in GUARDIAN_PROVIDERS:
            continue
        todos.extend(import_string(path)(client, user, practice=practice))
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return sorted(todos, key=lambda todo: todo.due_at or far)
