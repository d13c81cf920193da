"""Keep secrets and identities out of the log.

Log files are read by whoever runs the server, kept for months and copied to other systems: they
are not the place for a client's name or address, nor for the links that open an account.
Django's own loggers write the request's path on every 4xx and 5xx (django.request) and on every
request under runserver (django.server), and the paths of a portal invitation, a password reset
or a calendar feed carry their secret token. This filter, set on every handler in settings.LOGGING,
rewrites each record before it is written:

- the segment after "/shared/" (a signed letter's one-time download link) becomes "[token]",
  whatever its length;
- a path segment that looks like a token (20 or more letters, digits, "-" or "_": every token
  kapflow and allauth put in a URL is longer; no word of our own URLs is) becomes "[token]";
- a query string becomes "?[query]" (the caseload search carries names; a feed link its key);
- an email address becomes "[email]" (an SMTP error names the refused recipient; a database
  error may quote the duplicate value).
"""

import logging
import re

# Ending at the next "/", "?", quote, space, or a file extension (the calendar feed's ".ics").
_TOKEN_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_-]{20,}(?=[/?.\s\"']|$)")
_SHARED_LINK = re.compile(r"(?<=/shared/)[^/?\s\"']+")
_QUERY = re.compile(r"\?[^\s\"']*")
# The usual shape of an address, not RFC 5322's every allowance (which would swallow the quotes
# and braces of the Python repr around it).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    """`text` with token-like path segments, query strings and email addresses replaced."""
    text = _EMAIL.sub("[email]", text)
    text = _QUERY.sub("?[query]", text)
    text = _SHARED_LINK.sub("[token]", text)
    return _TOKEN_SEGMENT.sub("[token]", text)


def _redacted(value: object) -> object:
    # Numbers and other values keep their type, so that "%d" in a message still formats.
    return redact(value) if isinstance(value, str) else value


class RedactFilter(logging.Filter):
    """Rewrite a record's message, its arguments and its traceback with redact()."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        if record.exc_info and not record.exc_text:
            # The formatter would write the exception's text as it is; give it the redacted copy.
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        # django.request attaches the request itself, for handlers that print it (AdminEmailHandler
        # prints its GET and POST): no handler of ours needs it.
        if hasattr(record, "request"):
            record.request = None
        return True
