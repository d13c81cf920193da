from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """The last sign of life of a background process: the task worker writes its row every
    minute (kapflow.ops.tasks), and /healthz says how long ago that was (kapflow.ops.health).
    One row per process name, overwritten: this is a clock, not a record of the practice."""

    name = models.CharField(max_length=40, unique=True)
    beat_at = models.DateTimeField(default=timezone.now)
    # Where the beat came from, for whoever looks into a stale worker: /healthz names neither
    # (it answers anyone), the server's log does (kapflow.ops.health).
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
