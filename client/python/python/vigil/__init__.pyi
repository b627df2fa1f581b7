import os
from decimal import Decimal
from types import TracebackType
from typing import Any, Iterable, List, Literal, Mapping, Optional, Sequence, Tuple, Type, Union, overload

from ._errors import (
    ClosedError as ClosedError,
    ConfigError as ConfigError,
    InvalidArgument as InvalidArgument,
    InvalidDocument as InvalidDocument,
    JournalError as JournalError,
    ProtocolError as ProtocolError,
    Refused as Refused,
    ServerError as ServerError,
    Unavailable as Unavailable,
    VigilError as VigilError,
)
from ._types import (
    AddOutcome as AddOutcome,
    Alert as Alert,
    AlertInfo as AlertInfo,
    Change as Change,
    EvictReply as EvictReply,
    IncrEvictReply as IncrEvictReply,
    Group as Group,
    LruCandidate as LruCandidate,
    LruInfo as LruInfo,
    Metrics as Metrics,
    Outcome as Outcome,
    QuotaReply as QuotaReply,
    ReadReply as ReadReply,
    Severity as Severity,
    Silence as Silence,
    Status as Status,
    Store as Store,
)

__version__: str

#: A document: a dict (sent through ``json.dumps``) or its JSON text.
Document = Union[Mapping[str, Any], str]
#: One alert ID ``"<ts>-<seq>"`` or several.
Ids = Union[str, Iterable[str]]
#: An exact amount: int, str or Decimal in the server's grammar (at most 6 decimals); a float
#: goes through its shortest repr.
AmountLike = Union[int, str, Decimal, float]
#: A range bound: ``"-"``, ``"+"``, a ms timestamp or an ID ``"<ts>-<seq>"``.
BoundLike = Union[str, int]
Labels = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
#: ALERT.GROUPS's field: ``severity``, ``source``, ``type``, ``status`` or ``label:<name>``.
GroupBy = str

class Feed:
    """A stream's change feed followed from a cursor (``Client.follow``): an iterator of
    ``Change``s that waits for the next one. Store ``cursor`` to go on later after the last
    change returned."""

    @property
    def cursor(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def restarts(self) -> int:
        """Times the feed started again from ``0`` because its cursor was ahead."""
    def next(self, timeout: Optional[float] = None) -> Optional[Change]: ...
    def __iter__(self) -> "Feed": ...
    def __next__(self) -> Change: ...

class Client:
    """The synchronous client. Each call waits for its answer with the GIL released.

    ``url`` is ``redis://[user:password@]host:port[/db]``, or a list of the seed URLs of a Redis
    Cluster (``cluster`` defaults to True for several URLs, False for one). Writes of alerts (``add``, ``ack``, ``resolve``,
    ``delete``) go to Redis, else to the journal in ``journal_dir`` (fsync'ed before the call
    returns), else to the memory store (``memory_capacity`` writes, oldest dropped first); a
    background probe replays them, in order and exactly once, when Redis answers again. Timeouts
    are in seconds.
    """

    def __init__(
        self,
        url: Union[str, Sequence[str]],
        *,
        cluster: Optional[bool] = None,
        journal_dir: Optional[Union[str, os.PathLike[str]]] = None,
        memory_capacity: int = 100_000,
        command_timeout: float = 2.0,
        connect_timeout: float = 1.0,
        probe_interval: float = 0.25,
        max_journal_bytes: int = 0,
        replay_batch: int = 256,
        max_document_bytes: int = 65536,
    ) -> None: ...
    def __enter__(self) -> "Client": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    @property
    def mode(self) -> Store:
        """Where writes go now: ``redis``, ``file`` or ``memory``."""
    @property
    def pending(self) -> int:
        """Writes waiting in the journal and the memory store for Redis."""
    @property
    def closed(self) -> bool: ...
    def metrics(self) -> Metrics: ...
    def prometheus(self) -> str: ...
    def wake_probe(self) -> None: ...
    def close(self) -> None:
        """Later calls raise ClosedError; waits (``command_timeout + connect_timeout`` at most)
        until the journal directory is free for the next client."""
    def flush(self, timeout: float = 10.0) -> bool:
        """Replays now; True once the fallback stores are empty and writes go to Redis."""
    # ALERT.*
    def add(self, key: str, doc: Document, ts: Optional[int] = None, id: Optional[str] = None) -> AddOutcome: ...
    @overload
    def get(self, key: str, ids: str) -> Optional[Alert]: ...
    @overload
    def get(self, key: str, ids: Iterable[str]) -> List[Optional[Alert]]: ...
    def range(
        self,
        key: str,
        start: BoundLike = "-",
        end: BoundLike = "+",
        *,
        rev: bool = False,
        count: Optional[int] = None,
        min_severity: Optional[Severity] = None,
        source: Optional[str] = None,
        type: Optional[str] = None,
        status: Optional[Status] = None,
        labels: Optional[Labels] = None,
    ) -> List[Alert]: ...
    def ack(self, key: str, ids: Ids) -> int: ...
    def resolve(self, key: str, ids: Ids) -> int: ...
    def delete(self, key: str, ids: Ids) -> int: ...
    def info(self, key: str) -> AlertInfo: ...
    def create(
        self,
        key: str,
        *,
        retention_ms: Optional[int] = None,
        maxlen: Optional[int] = None,
        dedup_ms: Optional[int] = None,
        ratelimit: Optional[Tuple[int, int]] = None,
        autoresolve_ms: Optional[int] = None,
        id_memory_ms: Optional[int] = None,
    ) -> None: ...
    def alter(
        self,
        key: str,
        *,
        retention_ms: Optional[int] = None,
        maxlen: Optional[int] = None,
        dedup_ms: Optional[int] = None,
        ratelimit: Optional[Tuple[int, int]] = None,
        autoresolve_ms: Optional[int] = None,
        id_memory_ms: Optional[int] = None,
    ) -> None: ...
    def trim(self, key: str, *, maxlen: Optional[int] = None, min_ts: Optional[int] = None) -> int: ...
    # The change feed, silences, groups
    def read(
        self,
        key: str,
        cursor: str = "0",
        *,
        count: Optional[int] = None,
        block_ms: Optional[int] = None,
        with_silenced: bool = False,
        min_severity: Optional[Severity] = None,
        source: Optional[str] = None,
        type: Optional[str] = None,
        status: Optional[Status] = None,
        labels: Optional[Labels] = None,
    ) -> ReadReply: ...
    def follow(
        self,
        key: str,
        cursor: str = "0",
        *,
        count: Optional[int] = None,
        block_ms: Optional[int] = None,
        with_silenced: bool = False,
        min_severity: Optional[Severity] = None,
        source: Optional[str] = None,
        type: Optional[str] = None,
        status: Optional[Status] = None,
        labels: Optional[Labels] = None,
    ) -> Feed: ...
    def silence(
        self,
        key: str,
        until: int,
        *,
        min_severity: Optional[Severity] = None,
        source: Optional[str] = None,
        type: Optional[str] = None,
        labels: Optional[Labels] = None,
        comment: Optional[str] = None,
    ) -> int: ...
    def unsilence(self, key: str, id: int) -> bool: ...
    def silences(self, key: str) -> List[Silence]: ...
    def groups(
        self,
        key: str,
        by: GroupBy,
        start: BoundLike = "-",
        end: BoundLike = "+",
        *,
        min_severity: Optional[Severity] = None,
        source: Optional[str] = None,
        type: Optional[str] = None,
        status: Optional[Status] = None,
        labels: Optional[Labels] = None,
    ) -> List[Group]: ...
    # QUOTA.*
    def quota_set(
        self,
        key: str,
        limit: AmountLike,
        window_ms: Optional[int] = None,
        *,
        alerts: Optional[str] = None,
        at: Optional[Sequence[int]] = None,
    ) -> None: ...
    def quota_incr(
        self, key: str, amount: AmountLike = 1, *, limit: Optional[AmountLike] = None, force: bool = False
    ) -> QuotaReply: ...
    def quota_incr_evict(
        self, key: str, amount: AmountLike, tracker: str, *, max: Optional[int] = None, limit: Optional[AmountLike] = None, force: bool = False
    ) -> IncrEvictReply: ...
    def quota_dry_run(
        self,
        key: str,
        amount: AmountLike = 1,
        *,
        limit: Optional[AmountLike] = None,
        force: bool = False,
        evict: Optional[str] = None,
        max: Optional[int] = None,
    ) -> IncrEvictReply: ...
    def quota_get(self, key: str) -> Optional[QuotaReply]: ...
    def quota_reset(self, key: str) -> None: ...
    # LRU.*
    def lru_touch(self, tracker: str, keys: Union[Mapping[str, AmountLike], Iterable[Tuple[str, AmountLike]]]) -> int: ...
    def lru_forget(self, tracker: str, keys: Union[str, Iterable[str]]) -> int: ...
    def lru_candidates(self, tracker: str, count: int = 10) -> List[LruCandidate]: ...
    def lru_evict(
        self, tracker: str, target: AmountLike, *, quota: Optional[str] = None, max: Optional[int] = None
    ) -> EvictReply: ...
    def lru_info(self, tracker: str) -> LruInfo: ...
