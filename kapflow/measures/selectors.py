from kapflow.clients.models import Client
from kapflow.measures.models import Response


def latest_by_instrument(client: Client) -> list[Response]:
    """Each instrument's most recent response for this client, in one query."""
    seen, latest = set(), []
    for response in client.responses.order_by("-completed_at", "-pk").only(
        "instrument", "total", "band", "completed_at", "client_id"
    ):
        if response.instrument not in seen:
            seen.add(response.instrument)
            latest.append(response)
    return latest
