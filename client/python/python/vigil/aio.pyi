import os
from types import TracebackType
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple, Type, Union, overload

from . import (
    AddOutcome,
    Alert,
    AlertInfo,
    AmountLike,
    BoundLike,
    Change,
    Document,
    EvictReply,
    Group,
    IncrEvictReply,
    GroupBy,
    Ids,
    Labels,
    LruCandidate,
    LruInfo,
    Metrics,
    QuotaReply,
    ReadReply,
    Severity,
    Silence,
    Status,
    Store,
)

class Feed:
    """``vigil.Feed`` for asyncio: ``async for change in feed``."""

    @property
    def cursor(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def restarts(self) -> int: ...
    async def next(self, timeout: Optional[float] = None) -> Optional[Change]: ...
    def __aiter__(self) -> "Feed": ...
    async def __anext__(self) -> Change: ...

class Client:
    """The asyncio client: the calls of ``vigil.Client``, each an awaitable that never blocks
    the event loop (the Rust future runs on the client's tokio runtime)."""

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
    ) -> None: ...
    async def __aenter__(self) -> "Client": ...
    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    @property
    def mode(self) -> Store: ...
    @property
    def pending(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def metrics(self) -> Metrics: ...
    def prometheus(self) -> str: ...
    def wake_probe(self) -> None: ...
    def close(self) -> None: ...
    async def flush(self, timeout: float = 10.0) -> bool: ...
    # ALERT.*
    async def add(self, key: str, doc: Document, ts: Optional[int] = None, id: Optional[str] = None) -> AddOutcome: ...
    @overload
    async def get(self, key: str, ids: str) -> Optional[Alert]: ...
    @overload
    async def get(self, key: str, ids: Iterable[str]) -> List[Optional[Alert]]: ...
    async def range(
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
    async def ack(self, key: str, ids: Ids) -> int: ...
    async def resolve(self, key: str, ids: Ids) -> int: ...
    async def delete(self, key: str, ids: Ids) -> int: ...
    async def info(self, key: str) -> AlertInfo: ...
    async def create(
        self,
        key: str,
        *,
        retention_ms: Optional[int] = None,
        maxlen: Optional[int] = None,
        dedup_ms: Optional[int] = None,
        ratelimit: Optional[Tuple[int, int]] = None,
    ) -> None: ...
    async def alter(
        self,
        key: str,
        *,
        retention_ms: Optional[int] = None,
        maxlen: Optional[int] = None,
        dedup_ms: Optional[int] = None,
        ratelimit: Optional[Tuple[int, int]] = None,
    ) -> None: ...
    async def trim(self, key: str, *, maxlen: Optional[int] = None, min_ts: Optional[int] = None) -> int: ...
    # The change feed, silences, groups
    async def read(
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
    async def silence(
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
    async def unsilence(self, key: str, id: int) -> bool: ...
    async def silences(self, key: str) -> List[Silence]: ...
    async def groups(
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
    async def quota_set(
        self,
        key: str,
        limit: AmountLike,
        window_ms: Optional[int] = None,
        *,
        alerts: Optional[str] = None,
        at: Optional[Sequence[int]] = None,
    ) -> None: ...
    async def quota_incr(
        self, key: str, amount: AmountLike = 1, *, limit: Optional[AmountLike] = None, force: bool = False
    ) -> QuotaReply: ...
    async def quota_incr_evict(
        self, key: str, amount: AmountLike, tracker: str, *, max: Optional[int] = None, limit: Optional[AmountLike] = None
    ) -> IncrEvictReply: ...
    async def quota_dry_run(
        self,
        key: str,
        amount: AmountLike = 1,
        *,
        limit: Optional[AmountLike] = None,
        force: bool = False,
        evict: Optional[str] = None,
        max: Optional[int] = None,
    ) -> IncrEvictReply: ...
    async def quota_get(self, key: str) -> Optional[QuotaReply]: ...
    async def quota_reset(self, key: str) -> None: ...
    # LRU.*
    async def lru_touch(
        self, tracker: str, keys: Union[Mapping[str, AmountLike], Iterable[Tuple[str, AmountLike]]]
    ) -> int: ...
    async def lru_forget(self, tracker: str, keys: Union[str, Iterable[str]]) -> int: ...
    async def lru_candidates(self, tracker: str, count: int = 10) -> List[LruCandidate]: ...
    async def lru_evict(
        self, tracker: str, target: AmountLike, *, quota: Optional[str] = None, max: Optional[int] = None
    ) -> EvictReply: ...
    async def lru_info(self, tracker: str) -> LruInfo: ...
