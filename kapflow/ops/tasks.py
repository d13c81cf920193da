"""The task worker's heartbeat: a huey periodic task, run by the worker itself every minute,
so that /healthz can tell a worker that stopped (or a queue nobody works) from one that runs
(kapflow.ops.health). The worker (`manage.py run_huey`) finds this module by its name, as it
finds every installed app's `tasks` module."""

import os
import socket

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from kapflow.ops.health import WORKER
from kapflow.ops.models import Heartbeat


@db_periodic_task(crontab(minute="*"), name="kapflow.ops.heartbeat")
def worker_heartbeat() -> Heartbeat:
    """Every minute: overwrite the worker's Heartbeat row with now, this machine and process.
    It runs on one of the worker's threads like any task, so a worker too busy to pick it up
    within the stale threshold reads as down, which for reminders it is."""
    heartbeat, _created = Heartbeat.objects.update_or_create(
        name=WORKER,
        defaults={"beat_at": timezone.now(), "hostname": socket.gethostname()[:255], "pid": os.getpid()},
    )
    return heartbeat
