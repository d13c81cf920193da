"""A web process's long-lived objects and Python's cyclic garbage collector.

A kapflow process holds about 200,000 objects that live as long as it does: Django, kapflow
and the libraries they import, and the URLconf with every view module. Each full collection
of the cyclic garbage collector walks every one of them, and allocation-heavy work (building a
page's queries) sets one off every ten requests or so: on the group practice's prescriber
dashboard that was a pause of about 90 ms, 9 ms a request on average (README, "Measuring").
Setting them aside once start-up is done (gc.freeze, meant for this) leaves the collector only
what requests make."""

import gc

from django.urls import get_resolver


def freeze_startup_objects() -> int:
    """Import every view module (through the URLconf), collect what start-up left behind, and
    set everything else aside from the collector for the life of the process. Returns how many
    objects were set aside. Called by kapflow/wsgi.py in every web process."""
    get_resolver().url_patterns  # noqa: B018 (the URLconf imports the views when first read)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
