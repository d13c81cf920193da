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
from pathlib import Path

from django.template import engines
from django.urls import get_resolver

import kapflow


def freeze_startup_objects() -> int:
    """Import every view module (through the URLconf), fill the URLconf's reverse lookups and
    compile kapflow's own templates, collect what start-up left behind, and set everything else
    aside from the collector for the life of the process. Returns how many objects were set
    aside. Called by kapflow/wsgi.py in every web process.

    The reverse lookups and the templates are made once and kept for the life of the process
    too (Django's cached template loader keeps each template it compiles), but lazily: left to the
    first requests, they would land among the objects every full collection walks. kapflow's
    templates are about 80,000 objects, a full collection's 20 ms (measured on 7 December 2026).
    Still made lazily, and walked: each URL namespace's reverse lookups, made by its first
    reverse() (a few hundred objects each), which Django keeps in a cache of its own."""
    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 (the URLconf imports the views when first read)
    resolver.reverse_dict  # noqa: B018 (and fills its reverse lookups when first read)
    compile_own_templates()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def compile_own_templates() -> int:
    """Compile every template kapflow ships (not the libraries'), into each engine's cached
    loader, as the first request to use each would. Returns how many were compiled."""
    own = Path(kapflow.__file__).resolve().parent
    compiled = 0
    for engine in engines.all():
        for directory in map(Path, engine.template_dirs):
            if not directory.resolve().is_relative_to(own):
                continue
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    engine.get_template(path.relative_to(directory).as_posix())
                    compiled += 1
    return compiled
