"""The XPGEO exception tree.

Every failure the core reports to a person is one of these. Each carries a message a
GIS analyst can act on (what went wrong, with which input, and what to do) and the
exit code the command line uses. Nothing here ever holds a secret: messages built
from server answers go through :func:`redact` first.

::

    XpgeoError                 exit 4 unless a subclass says otherwise
    ├── ConfigError            exit 2  a setting is missing or malformed
    ├── ValidationError        exit 2  an input was refused (before or by the server)
    ├── AuthError              exit 3  credentials missing, wrong, expired or lacking rights
    ├── RequestError           exit 4  the network: connection refused, time-out, TLS
    │   └── AnswerLost         exit 4  the request went out, its answer did not come back whole
    ├── ServerError            exit 4  the server answered with an error
    └── Cancelled              exit 130  the person pressed Ctrl+C or Pro's Cancel
"""

from __future__ import annotations

from typing import Iterable, Optional

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_SERVER = 4
EXIT_CANCELLED = 130


class XpgeoError(Exception):
    """Base of every error the core raises on purpose."""

    exit_code = EXIT_SERVER
    kind = "error"

    def __init__(self, message: str, *, hint: Optional[str] = None, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} {self.hint}"
        return self.message

    def to_dict(self) -> dict:
        return {"type": self.kind, "message": self.message, "hint": self.hint, "status": self.status}


class ConfigError(XpgeoError):
    """A setting is missing, malformed or contradicts another."""

    exit_code = EXIT_USAGE
    kind = "config"


class ValidationError(XpgeoError):
    """An input (layer name, image URL, list) was refused, by us or by the server (400/422)."""

    exit_code = EXIT_USAGE
    kind = "validation"


class AuthError(XpgeoError):
    """Credentials are missing, wrong, expired, or the account lacks a privilege."""

    exit_code = EXIT_AUTH
    kind = "auth"


class RequestError(XpgeoError):
    """The request did not get an answer: connection refused, DNS, time-out, TLS."""

    exit_code = EXIT_SERVER
    kind = "network"


class AnswerLost(RequestError):
    """The request was sent but its answer was lost (reset, time-out, a cut body, a gateway's
    502/504): the server may or may not have carried it out. A write that ends like this is
    never simply sent again: the caller first finds out what landed."""

    kind = "answer_lost"


class ServerError(XpgeoError):
    """The server answered with an error (HTTP >= 400 or an error body)."""

    exit_code = EXIT_SERVER
    kind = "server"


class Cancelled(XpgeoError):
    """The run was cancelled (Ctrl+C, or ArcGIS Pro's Cancel button).

    A progress callback may raise it (the toolbox's does when ``arcpy.env.isCancelled``);
    the append loop then stops within two seconds and returns a report of exactly what
    landed, with ``report.cancelled`` set.
    """

    exit_code = EXIT_CANCELLED
    kind = "cancelled"

    def __init__(self, message: str = "Cancelled.", **kwargs) -> None:
        super().__init__(message, **kwargs)


REDACTED = "********"


def redact(text: str, secrets: Iterable[Optional[str]]) -> str:
    """Return *text* with every secret value replaced by asterisks.

    Used on anything that came back from a server or a library before it reaches a
    message, a log line or an exception: servers echo requests back more often than
    one would think.
    """
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, REDACTED)
    return text
