"""The exceptions a call raises, one per kind of vigil-client error (``vigil_client::Error``).

A write that Redis cannot take right now is not an error: it goes to the journal (or the
memory store) and the call returns. What remains are calls refused for what they are (the
same call would fail again, so nothing was kept for replay), calls that only Redis can answer
while it is unavailable, and a client that cannot be opened.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error the client raises."""


class Refused(VigilError):
    """The call itself was refused: it would fail again, so nothing was kept for replay."""


class ServerError(Refused):
    """Redis answered with an error about the call (a bad document, WRONGTYPE, no such key).

    ``code`` is the error's first word (``ERR``, ``WRONGTYPE``...), ``detail`` the rest.
    """

    def __init__(self, message: str, code: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class InvalidDocument(Refused, ValueError):
    """A fallback store refused a write the server would refuse (its document, a TS past
    ``i64``), with the server's error text, so that no journal holds a write that cannot be
    replayed."""


class InvalidArgument(Refused, ValueError):
    """An argument refused before anything was sent: an alert ID that is not ``<ts>-<seq>``,
    an amount outside the server's grammar, a range bound that is none of ``-``, ``+``, a ms
    timestamp or an ID."""


class Unavailable(VigilError, ConnectionError):
    """Redis (or the module) is unavailable and this call has no fallback: quotas, LRU
    trackers and stream settings are shared state that only the server can decide."""


class ProtocolError(VigilError):
    """The server's reply did not have the expected shape."""


class JournalError(VigilError, OSError):
    """Creating or reading the journal directory failed."""


class ConfigError(VigilError, ValueError):
    """The client cannot be opened as configured: an invalid URL, or a journal directory
    another client holds (one client per directory, a lock file)."""


class ClosedError(VigilError):
    """A call on a client after ``close()``."""


__all__ = [
    "VigilError",
    "Refused",
    "ServerError",
    "InvalidDocument",
    "InvalidArgument",
    "Unavailable",
    "ProtocolError",
    "JournalError",
    "ConfigError",
    "ClosedError",
]
