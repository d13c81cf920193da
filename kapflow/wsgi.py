import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.settings")
application = get_wsgi_application()

# Start-up's objects, set aside from the garbage collector's full collections (kapflow.lib.heap).
from kapflow.lib.heap import freeze_startup_objects  # noqa: E402 (needs Django set up)

freeze_startup_objects()
