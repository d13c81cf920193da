"""kapflow's one settings file. Every value that differs between machines comes from the
environment; the defaults run a demo practice on a laptop (SQLite file, embedded task queue).
README.md lists every variable."""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from kapflow.lib.env import env_bool, env_int, env_list, env_str
from kapflow.lib.private_files import private_dir, private_sqlite_file

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("KAPFLOW_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("KAPFLOW_DEBUG", True)
SECRET_KEY = env_str("KAPFLOW_SECRET_KEY", "insecure-development-key-never-use-with-real-data")
ALLOWED_HOSTS = env_list("KAPFLOW_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("KAPFLOW_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("KAPFLOW_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Two-factor sign-in is required for every staff account. Only a demo on a laptop may switch it
# off, and the pages then say so on every screen.
MFA_REQUIRED = env_bool("KAPFLOW_MFA_REQUIRED", True)
if not DEBUG and not MFA_REQUIRED:
    raise ImproperlyConfigured(
        "KAPFLOW_MFA_REQUIRED=0 is only allowed with KAPFLOW_DEBUG=1: a practice holding real "
        "client data must require two-factor sign-in for every staff account."
    )

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks",
    "huey.contrib.djhuey",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "kapflow.lib",
    "kapflow.accounts",
    "kapflow.audit",
    "kapflow.practice",
    "kapflow.clients",
    "kapflow.inquiries",
    "kapflow.measures",
    "kapflow.medical",
    "kapflow.consent",
    "kapflow.pathway",
    "kapflow.visits",
    "kapflow.dosing",
    "kapflow.integration",
    "kapflow.portal",
    "kapflow.journal",
    "kapflow.reminders",
    "kapflow.outcomes",
    "kapflow.documents",
    "kapflow.letters",
    "kapflow.notes",
    "kapflow.course",
    "kapflow.controlled",
    "kapflow.billing",
    "kapflow.records",
    "kapflow.ops",
    "kapflow.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kapflow.lib.middleware.request_context",
    # CSP, Permissions-Policy, and no-store for the signed-in: outside everything below so that
    # their answers (CSRF failure, MFA redirect, sign-out) carry the headers too.
    "kapflow.lib.security_headers.security_headers",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A 403/404 on a client URL is audited, after the view and outside its transaction.
    "kapflow.audit.middleware.audit_denied",
    "kapflow.accounts.middleware.end_stale_sessions",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "kapflow.accounts.middleware.require_staff_mfa",
    "kapflow.accounts.middleware.require_fresh_confirmation",
]

ROOT_URLCONF = "kapflow.urls"
WSGI_APPLICATION = "kapflow.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "kapflow" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kapflow.practice.context_processors.practice",
            ],
        },
    },
]
# Form widgets: the plain ones written in Python, the same HTML as Django's templates (kapflow.lib.rendering).
FORM_RENDERER = "kapflow.lib.rendering.PlainWidgets"

# Database: a SQLite file unless DATABASE_URL names another (PostgreSQL in production).
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # PostgreSQL's JIT compiler spends tens of milliseconds compiling any query its planner
        # costs highly, every time it runs, to save a few on queries that take three: wrong for a
        # web application's short queries (measured in bench/: the dashboard's p50 halved).
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
        # The parameters sent apart from the query's text (server-side binding), so that a query's
        # text is the same on every request, and each connection prepares the queries it runs
        # often (from their fifth run): PostgreSQL then plans a page's queries once per connection,
        # not on every request (a clinician's dashboard spent 5–10 ms of its time planning them,
        # bench/README.md). A connection pooler in transaction mode that cannot keep prepared
        # statements (PgBouncer before 1.21, or without max_prepared_statements) needs them off:
        # KAPFLOW_DB_PREPARED=0.
        options["server_side_binding"] = True
        if env_bool("KAPFLOW_DB_PREPARED", True):
            options["prepare_threshold"] = 5
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "kapflow.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock when a transaction starts, so two writers
                # wait for each other (up to the timeout) instead of failing half-way.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                # recursive_triggers: INSERT OR REPLACE fires the delete triggers of the row it
                # replaces, so the append-only and signed-record triggers see it (kapflow.audit.db).
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA recursive_triggers=ON;"
                ),
            },
            # Tests run on a file too, as the practice does: Django shares one connection among
            # the live server's threads for an in-memory database, and two requests at once
            # (a draft autosave and Save) then trip over each other in a way no practice sees.
            # One file per test run, so that two runs on one machine never share it.
            "TEST": {"NAME": Path(tempfile.gettempdir()) / f"test_kapflow_{os.getpid()}.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: rate limits and sign-in throttles must be shared by every web process, so a practice
# running more than one process sets REDIS_URL.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis cut off at the network answers nothing: without a timeout a request (or a
            # save whose signal tells the outcome report's cache of a change) would wait for the
            # kernel's minutes. A second is far beyond a working Redis's answer.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The embedded defaults keep their SQLite files here; huey opens its file as soon as it is
# imported, so the folder must exist before anything else runs.
# Both hold client data, so the folder and the files are the owner's only
# (kapflow.lib.private_files).
if not DATABASE_URL or not REDIS_URL:
    private_dir(VAR_DIR)
if not DATABASE_URL:
    private_sqlite_file(VAR_DIR / "kapflow.sqlite3")
if not REDIS_URL:
    private_sqlite_file(VAR_DIR / "tasks.sqlite3")

# Background work: the django-tasks API, carried by huey (a SQLite file by default, Redis when
# REDIS_URL is set). `make run` starts the worker beside the web server.
TASKS = {"default": {"BACKEND": "kapflow.lib.tasks.HueyBackend"}}
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "kapflow",
        "immediate": False,
        "connection": {"url": REDIS_URL},
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "kapflow",
        "immediate": False,
        "filename": str(VAR_DIR / "tasks.sqlite3"),
        "consumer": {"workers": 2, "worker_type": "thread"},
    }

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "kapflow.accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {"add_email": "kapflow.accounts.forms.AddEmailForm"}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# A reset asked for an address with no account sends nothing: allauth's "unknown account" email
# invites the reader to sign up, and nobody signs themselves up here (staff are invited, clients
# are invited to their portal). The page says the same whether the account exists or not.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
# Changing an email address or the password asks the person to prove who they are again; with
# an authenticator that means its code, not the password (AccountAdapter).
ACCOUNT_REAUTHENTICATION_REQUIRED = True
# The old address hears of a change of address, and the account's address of a new password or
# authenticator: allauth's notification emails (no clinical detail in them).
ACCOUNT_EMAIL_NOTIFICATIONS = True
# Sign-in throttles are sized for a practice's whole staff signing in from one office address at
# 9:00. Wrong passwords: 30 in five minutes from one address, and 5 against one account from
# anywhere (wrong authenticator codes: SECOND_FACTOR_RATE below, per account only). Every
# attempt, right or wrong: 100 in five minutes from one address (allauth's default, 30 a minute,
# refused an office), a cap nothing clears (docs/security/accounts.md).
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("KAPFLOW_LOGIN_RATE", "30/5m/ip,5/5m/key"),
    "login": env_str("KAPFLOW_LOGIN_ATTEMPT_RATE", "100/5m/ip"),
    "reset_password": "5/m/ip,3/m/key",
}
# Wrong authenticator codes count against the person's own account only, never the address: a
# code is tried only after that account's password was right, and staff share the office's
# address (kapflow.accounts.throttle). Five in five minutes by default; only per-account ("/key")
# rates are accepted, since a per-address one would lock the whole office out again.
SECOND_FACTOR_RATE = env_str("KAPFLOW_SECOND_FACTOR_RATE", "5/5m/key")
if not all(
    part.strip().count("/") == 2 and part.strip().endswith("/key") for part in SECOND_FACTOR_RATE.split(",")
):
    raise ImproperlyConfigured(
        f"KAPFLOW_SECOND_FACTOR_RATE={SECOND_FACTOR_RATE!r}: give per-account rates only, such as 5/5m/key."
    )
MFA_FORMS = {
    "authenticate": "kapflow.accounts.forms.AuthenticateForm",
    "reauthenticate": "kapflow.accounts.forms.ReauthenticateForm",
    "activate_totp": "kapflow.accounts.forms.ActivateTOTPForm",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# allauth refuses to add an authenticator while the account has an unverified address, so that
# someone who signed up with another's address cannot lock its owner out. Nobody signs themselves
# up here, and kapflow verifies no address by email (ACCOUNT_EMAIL_VERIFICATION): the practice
# sets each account's address. Yet allauth writes the sign-in address as an unverified row
# whenever its password-reset key is made or checked (a reset, an invitation, anyone opening a
# welcome link with the person's id and any key), and with the refusal on, that person's
# enrolment page sent them to the two-factor index, which enrolment sends back
# (kapflow.accounts.middleware.require_staff_mfa): redirects for ever. The same setting lets an
# account with an authenticator add an address; kapflow's AddEmailForm still refuses that.
MFA_ALLOW_UNVERIFIED_EMAIL = True
MFA_TOTP_ISSUER = env_str("KAPFLOW_PRACTICE_NAME", "kapflow")
# An authenticator's code is taken in the 30 seconds it was shown and in the windows either side
# (allauth's default is the current window only): a code typed as it turns over, or one that
# waits in a busy server's queue at 9:00, is not refused (RFC 6238, 5.2: one step of network
# delay). allauth refuses a code a second time while it could still be taken, so a code seen
# over someone's shoulder is no more use than before (docs/security/accounts.md).
MFA_TOTP_TOLERANCE = env_int("KAPFLOW_TOTP_TOLERANCE", 1, minimum=0, maximum=2)

# Idle sign-out: the session ends this long after the person's last activity (a background poll
# is not activity: kapflow.accounts.middleware.end_stale_sessions); the page warns two minutes
# before and keeps what was typed (static/kapflow/kapflow.js). Whatever the activity, a session
# ends SESSION_MAX_HOURS after signing in.
IDLE_MINUTES = env_int("KAPFLOW_IDLE_MINUTES", 30, minimum=5)
SESSION_MAX_HOURS = env_int("KAPFLOW_SESSION_MAX_HOURS", 12, minimum=1)
# The stored session outlives no sign-in: the middleware ends it sooner when idle.
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
# The session row is written when something in it changes (the activity time moves by a minute
# or more), not on every request.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Inquiries from the public page: at most this many from one address in an hour.
INQUIRY_RATE_PER_HOUR = env_int("KAPFLOW_INQUIRY_RATE_PER_HOUR", 5, minimum=1)

# A signed letter's emailed download link works once, for this many hours (docs/letters.md).
LETTER_LINK_HOURS = env_int("KAPFLOW_LETTER_LINK_HOURS", 72, minimum=1)

# /healthz calls the task worker stale when its last heartbeat (written every minute) is older
# than this: at least two missed beats, so that one slow minute does not mark it down
# (docs/health.md).
WORKER_STALE_SECONDS = env_int("KAPFLOW_WORKER_STALE_SECONDS", 180, minimum=120)


# Behind a TLS proxy, the client's address is the last hop the proxy appended.
BEHIND_PROXY = env_bool("KAPFLOW_BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# allauth's sign-in throttles count the client's address, not the proxy's: one proxy of ours,
# whose appended X-Forwarded-For hop is the client (as kapflow.lib.middleware.client_ip reads it;
# the adapter hands allauth that same address).
ALLAUTH_TRUSTED_PROXY_COUNT = 1 if BEHIND_PROXY else 0

SECURE = env_bool("KAPFLOW_SECURE", not DEBUG)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE and env_bool("KAPFLOW_SSL_REDIRECT", True)
# A load balancer probes the web process directly, often over plain HTTP: a redirect would read
# as a dead node (docs/health.md).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("KAPFLOW_HSTS_SECONDS", 31536000 if SECURE else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

EMAIL_BACKEND = env_str("KAPFLOW_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Backends that do not deliver mail: the console prints every invitation and password-reset link
# (each a key to an account) into the server's log, and the others drop them. A practice would
# find out only when nobody could sign in, so production refuses them at start-up.
_UNDELIVERED_EMAIL = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}
if not DEBUG and EMAIL_BACKEND in _UNDELIVERED_EMAIL:
    raise ImproperlyConfigured(
        f"KAPFLOW_EMAIL_BACKEND={EMAIL_BACKEND} is only allowed with KAPFLOW_DEBUG=1: it does not "
        "send mail (and the console backend writes sign-in links into the log). Set "
        "KAPFLOW_EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and the KAPFLOW_EMAIL_* "
        "variables for your mail server."
    )
EMAIL_HOST = env_str("KAPFLOW_EMAIL_HOST", "localhost")
# Emails carry invitation and reset links: in production they go over STARTTLS (port 587, the
# submission port, RFC 8314) unless the practice says otherwise.
EMAIL_USE_TLS = env_bool("KAPFLOW_EMAIL_TLS", not DEBUG)
EMAIL_PORT = env_int("KAPFLOW_EMAIL_PORT", 587 if EMAIL_USE_TLS else 25)
EMAIL_HOST_USER = env_str("KAPFLOW_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_str("KAPFLOW_EMAIL_PASSWORD")
DEFAULT_FROM_EMAIL = env_str("KAPFLOW_FROM_EMAIL", "kapflow <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("KAPFLOW_TIME_ZONE", "America/Los_Angeles")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "kapflow" / "static"]
# Files filed on a chart and signed letters' PDFs (kapflow.documents, kapflow.letters), kept
# through Django's storage API: never under STATIC or any URL, served only by views that scope
# and audit. A group practice points "default" at S3-compatible storage by settings alone
# (docs/documents.md).
MEDIA_DIR = Path(env_str("KAPFLOW_MEDIA_DIR", str(VAR_DIR / "media")))
# The largest file filed on a chart, in megabytes of 1,048,576 bytes (docs/documents.md). A
# larger one is refused by the upload form with a message, never written to disk; a proxy in
# front must let at least this much through (nginx: client_max_body_size).
# At most 1 GB: a document's recorded size is a 32-bit number, and a file that large is a scan of
# a whole archive, not a document for a chart.
UPLOAD_MAX_MB = env_int("KAPFLOW_UPLOAD_MAX_MB", 20, minimum=1, maximum=1024)
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_DIR)},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Filed documents are the practice's alone on the machine, as its database file is.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Every handler redacts tokens in paths, query strings and email addresses (kapflow.lib.logfilters):
# invitation, reset and feed links are keys, and a log is no place for a client's name.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "kapflow.lib.logfilters.RedactFilter"}},
    "formatters": {
        "server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact"]},
        "server": {"class": "logging.StreamHandler", "formatter": "server", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": env_str("KAPFLOW_LOG_LEVEL", "INFO")},
    "loggers": {
        # With a handler of ours, run_huey does not add its own, unfiltered one.
        "huey": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # runserver's request lines, which Django's defaults write unfiltered.
        "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
        # Django's defaults send django.* to their own console handler (in DEBUG) as well as to
        # ours; one filtered copy is enough.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # WeasyPrint tells of every step of every PDF at INFO; its warnings are what matter.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
