"""Vigil from Python: typed ALERT.*, QUOTA.* and LRU.* calls, and the cascade Redis -> file
journal -> memory that never loses an alert.

This package is the Rust client ``vigil-client`` compiled as an extension (``vigil._vigil``,
PyO3): the cascade, the journal, the replay and the typed replies are the Rust client's, not
a second implementation. ``vigil.Client`` waits for each call with the GIL released;
``vigil.aio.Client`` has the same calls as awaitables that never block the event loop.

    import vigil

    with vigil.Client("redis://127.0.0.1:6379/", journal_dir="/var/lib/app/vigil") as client:
        reply = client.add("alerts:prod", {"severity": "high", "source": "db-1", "type": "disk"})
        print(reply.outcome, reply.store, reply.id)      # added redis 1767...-4203...
        for alert in client.range("alerts:prod", min_severity="high", status="active"):
            client.ack("alerts:prod", alert.id)
"""

from ._errors import (
    ClosedError,
    ConfigError,
    InvalidArgument,
    InvalidDocument,
    JournalError,
    ProtocolError,
    Refused,
    ServerError,
    Unavailable,
    VigilError,
)
from ._types import (
    AddOutcome,
    Alert,
    AlertInfo,
    Change,
    EvictReply,
    Group,
    IncrEvictReply,
    LruCandidate,
    LruInfo,
    Metrics,
    Outcome,
    QuotaReply,
    ReadReply,
    Severity,
    Silence,
    Status,
    Store,
)
from ._vigil import Client, Feed, __version__

__all__ = [
    "Client",
    "Feed",
    "AddOutcome",
    "Alert",
    "AlertInfo",
    "Change",
    "EvictReply",
    "Group",
    "IncrEvictReply",
    "LruCandidate",
    "LruInfo",
    "Metrics",
    "Outcome",
    "QuotaReply",
    "ReadReply",
    "Severity",
    "Silence",
    "Status",
    "Store",
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
    "__version__",
]
