"""The replies of the calls, as frozen dataclasses. The extension builds them from the Rust
client's typed replies (``vigil_client::{Alert, AddReply, QuotaReply, ...}``): their fields are
those, with IDs as ``"<ts>-<seq>"`` strings and amounts as exact ``decimal.Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, List, Literal, Optional

Severity = Literal["info", "low", "medium", "high", "critical"]
Status = Literal["active", "acked", "resolved"]
#: Where a write went, or where writes go now.
Store = Literal["redis", "file", "memory"]
Outcome = Literal["added", "duplicate", "exists", "limited", "expired"]


@dataclass(frozen=True)
class Alert:
    """An alert as ALERT.GET and ALERT.RANGE return it (from Redis, or in fallback from what
    the fallback stores hold)."""

    #: ``"<ts>-<seq>"``.
    id: str
    #: The alert's time, ms since the Unix epoch.
    ts: int
    status: Status
    #: Occurrences folded into this alert (1 + duplicates).
    count: int
    last_seen: int
    severity: Severity
    source: str
    #: The document's ``type`` field.
    type: str
    labels: Dict[str, str]
    #: The whole document, server fields included (``json.loads`` of ``json``: integers exact).
    document: Dict[str, Any] = field(repr=False)
    #: The JSON text as the server (or the fallback store) rendered it.
    json: str = field(repr=False)


@dataclass(frozen=True)
class AddOutcome:
    """What ALERT.ADD did with an alert, and which store took it."""

    #: ``added``, ``duplicate`` (folded into ``alert_id``), ``exists`` (this ID was seen
    #: before: a replay or a retry, nothing changed), ``limited`` (rate limit), ``expired``.
    outcome: Outcome
    #: ``redis``: final. ``file`` / ``memory``: provisional, Redis gives the final outcome on
    #: replay (counted in ``metrics()``).
    store: Store
    #: The ID this write carried (made by the client unless given): a replay or a retry with
    #: it answers ``exists``.
    id: str
    #: The alert that holds it now (``added``, ``duplicate``, ``exists``), else None.
    alert_id: Optional[str]
    #: That alert's count (1 for ``added``), else None.
    count: Optional[int]
    #: For ``limited``: the same alert this much later would pass.
    retry_after_ms: Optional[int] = None

    @property
    def provisional(self) -> bool:
        """True when a fallback store answered (Redis decides on replay)."""
        return self.store != "redis"


@dataclass(frozen=True)
class AlertInfo:
    """ALERT.INFO (in fallback: the fallback store's view of the stream)."""

    length: int
    first_ts: Optional[int]
    last_ts: Optional[int]
    retention: int
    maxlen: int
    dedup: int
    ratelimit_n: int
    ratelimit_window: int
    added: int
    duplicates: int
    limited: int
    expired: int
    trimmed: int
    memory: int
    autoresolve: int
    autoresolved: int
    id_memory: int
    remembered_ids: int


@dataclass(frozen=True)
class QuotaReply:
    """QUOTA.INCR / QUOTA.GET. Amounts are exact (6 decimals), as the server holds them."""

    #: The amount was applied and usage is at most the limit.
    allowed: bool
    usage: Decimal
    #: None: unlimited.
    limit: Optional[Decimal]
    #: None: unlimited; zero when over.
    remaining: Optional[Decimal]
    #: Ms until usage in the window next drops (0 when empty); None for a cumulative quota.
    reset_ms: Optional[int]


@dataclass(frozen=True)
class IncrEvictReply:
    """QUOTA.INCR ... EVICT, and QUOTA.INCR ... DRYRUN."""

    quota: QuotaReply
    #: The keys evicted (for a dry run: that would be), in eviction order; empty when the
    #: amount fitted without evicting, or could not fit even after MAX keys (then nothing was
    #: evicted and ``quota.allowed`` is False).
    evicted: List[str]


@dataclass(frozen=True)
class LruCandidate:
    """One element of LRU.CANDIDATES."""

    key: str
    size: Decimal
    last_used_ms: int


@dataclass(frozen=True)
class EvictReply:
    """LRU.EVICT."""

    evicted: int
    freed: Decimal
    total: Decimal
    #: The keys deleted, in eviction order.
    keys: List[str]


@dataclass(frozen=True)
class LruInfo:
    """LRU.INFO."""

    keys: int
    total: Decimal
    oldest_ms: Optional[int]
    evicted: int


@dataclass(frozen=True)
class Metrics:
    """A snapshot of the client's counters (``vigil_client::Metrics``)."""

    #: The store writes go to now.
    mode: Store
    #: Calls that found Redis or the module unavailable, replay batches included.
    failures: int
    #: Background health checks that found Redis still unavailable.
    probe_failures: int
    #: Journal appends that failed (disk full, read-only, size limit).
    journal_failures: int
    #: Writes kept in a fallback store (file or memory).
    fallbacks: int
    fallback_file: int
    fallback_memory: int
    #: Writes waiting in the journal and the memory store for Redis.
    pending: int
    pending_file: int
    pending_memory: int
    #: Slots whose writes go to the fallback stores (a cluster); on one server 1 while in
    #: fallback, else 0.
    fallback_slots: int
    #: Writes replayed to Redis (each answered by Redis).
    replayed: int
    #: Writes Redis refused on replay (kept in ``rejected.jsonl`` beside the journal).
    rejected: int
    #: Writes pushed out of the full memory store (lost).
    dropped: int
    mode_changes: int
    #: ALERT.ADD outcomes given by Redis, directly or on replay.
    added: int
    duplicate: int
    exists: int
    limited: int
    expired: int


@dataclass(frozen=True)
class Change:
    """One alert of the change feed, in its current state, with the position of its last
    change."""

    cursor: str
    alert: Alert


@dataclass(frozen=True)
class ReadReply:
    """ALERT.READ: the changes after the cursor, and where to read on from."""

    #: Past every change returned or left out by the filters: store it, read on from it.
    #: Opaque text; compare cursors only for equality.
    next: str
    changes: List[Change]
    #: ``redis``, or in fallback the store holding the writes made meanwhile (its changes
    #: come again, in their state in Redis, once they are replayed).
    store: Store


@dataclass(frozen=True)
class Silence:
    """An active silence (ALERT.SILENCES): alerts matching all of its matchers are left out
    of the feed until ``until`` (ms)."""

    id: int
    until: int
    min_severity: Optional[Severity]
    source: Optional[str]
    type: Optional[str]
    labels: Dict[str, str]
    comment: Optional[str]
    #: Alerts held now that it matches.
    covered: int


@dataclass(frozen=True)
class Group:
    """One group of ALERT.GROUPS."""

    #: None: the alerts without the label grouped by.
    value: Optional[str]
    alerts: int
    #: The sum of their ``count``.
    occurrences: int
    newest_ts: int


__all__ = [
    "Severity",
    "Status",
    "Store",
    "Outcome",
    "Alert",
    "AddOutcome",
    "AlertInfo",
    "QuotaReply",
    "IncrEvictReply",
    "LruCandidate",
    "EvictReply",
    "LruInfo",
    "Metrics",
    "Change",
    "ReadReply",
    "Silence",
    "Group",
]
