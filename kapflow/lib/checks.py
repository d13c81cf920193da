"""System checks for settings that must agree with each other. They run with every manage.py
command and refuse to start a server on a configuration that would be unsafe."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_production_settings(app_configs, **kwargs):
    errors = []
    if not settings.DEBUG and (settings.SECRET_KEY.startswith("insecure-") or len(settings.SECRET_KEY) < 50):
        errors.append(
            checks.Error(
                "KAPFLOW_SECRET_KEY is the development default or too short.",
                hint="Set KAPFLOW_SECRET_KEY to a random string of at least 50 characters.",
                id="kapflow.E001",
            )
        )
    return errors


@checks.register()
def check_consistent_settings(app_configs, **kwargs):
    errors = []
    host = urlsplit(settings.SITE_URL).hostname or ""
    if host and "*" not in settings.ALLOWED_HOSTS and host not in settings.ALLOWED_HOSTS:
        errors.append(
            checks.Error(
                f"KAPFLOW_SITE_URL names the host {host!r}, which KAPFLOW_ALLOWED_HOSTS does not allow.",
                hint="Add the host to KAPFLOW_ALLOWED_HOSTS, or correct KAPFLOW_SITE_URL.",
                id="kapflow.E002",
            )
        )
    if settings.SECURE and not settings.SITE_URL.startswith("https://"):
        errors.append(
            checks.Error(
                "KAPFLOW_SITE_URL must start with https:// when cookies are marked secure.",
                hint="Serve kapflow behind a TLS proxy and set KAPFLOW_SITE_URL=https://…",
                id="kapflow.E003",
            )
        )
    if settings.DATABASE_URL.startswith(("postgres", "pgsql")) and not settings.REDIS_URL:
        errors.append(
            checks.Warning(
                "PostgreSQL is configured but REDIS_URL is not: sign-in throttles and the task "
                "queue would be private to each process.",
                hint="Set REDIS_URL when running more than one web process.",
                id="kapflow.W001",
            )
        )
    return errors
