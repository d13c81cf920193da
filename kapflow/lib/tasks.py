"""A django-tasks backend that hands tasks to huey.

Code enqueues through the django-tasks API (`@task` and `.enqueue()`, the same API as Django 6's
`django.tasks`), so the queue underneath can change without touching a caller. huey stores the
queue in a SQLite file by default and in Redis when REDIS_URL is set (see settings.HUEY); the
worker is huey's own consumer (`manage.py run_huey`), which `make run` starts.
"""

import threading

from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import TaskResult, TaskResultStatus
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.utils import get_random_id
from huey.contrib.djhuey import HUEY, db_task

from kapflow.lib import heap


class HueyBackend(BaseTaskBackend):
    supports_defer = True

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        result = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        if task.run_after is not None:
            run_task.schedule(args=(task.module_path, result.args, result.kwargs), eta=task.run_after)
        else:
            run_task(task.module_path, result.args, result.kwargs)
        return result


@db_task(retries=3, retry_delay=60)
def run_task(module_path: str, args: list, kwargs: dict):
    """Runs in the worker: look the task up by its import path and call it. huey retries a
    failure three times, a minute apart."""
    return import_string(module_path).call(*args, **kwargs)


def queue() -> object:
    """The huey instance, for tests and the admin's view of the queue."""
    return HUEY


_set_aside = threading.Lock()
_set_aside_done = False


@HUEY.on_startup()
def set_startup_objects_aside() -> None:
    """In the worker (`manage.py run_huey`), as kapflow/wsgi.py does in every web process: the
    URLconf and kapflow's templates made once and start-up's objects set aside from the garbage
    collector's full collections (kapflow.lib.heap). huey calls this in each of the consumer's
    worker threads as it starts; the first does it for the process."""
    global _set_aside_done
    with _set_aside:
        if not _set_aside_done:
            heap.freeze_startup_objects()
            _set_aside_done = True
