"""A web process's long-lived objects and Python's cyclic garbage collector.

A kapflow process holds about 185,000 objects that live as long as it does: Django, kapflow
and the libraries they import, and the URLconf with every view module. Each full collection
of the cyclic garbage collector walks every one of them, 90–130 ms on the machine of
bench/README.md, and how often one comes depends on what requests leave behind: a process
serving the group practice's prescriber dashboard over and over ran one every ten requests or
so (9 ms a request on average), the page benchmark's process one in its 240 dashboard requests.
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
