import asyncio
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
    def next(self, timeout: Optional[float] = None) -> asyncio.Future[Optional[Change]]: ...
    def __aiter__(self) -> "Feed": ...
    def __anext__(self) -> asyncio.Future[Change]: ...

class Client:
    """The asyncio client: the calls of ``vigil.Client``, each an ``asyncio.Future`` of the
    running loop that never blocks it (the call runs on the client's tokio runtime)."""

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
    def __aenter__(self) -> asyncio.Future["Client"]: ...
    def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> asyncio.Future[None]: ...
    @property
    def mode(self) -> Store: ...
    @property
    def pending(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def metrics(self) -> Metrics: ...
    def prometheus(self) -> str: ...
    def wake_probe(self) -> None: ...
    def close(self) -> None:
        """Later calls raise ClosedError, at once; the journal directory is free a little later."""
    def aclose(self) -> asyncio.Future[None]:
        """Closes and waits until the journal directory is free for the next client."""
    def flush(self, timeout: float = 10.0) -> asyncio.Future[bool]: ...
    # ALERT.*
    def add(self, key: str, doc: Document, ts: Optional[int] = None, id: Optional[str] = None) -> asyncio.Future[AddOutcome]: ...
    @overload
    def get(self, key: str, ids: str) -> asyncio.Future[Optional[Alert]]: ...
    @overload
    def get(self, key: str, ids: Iterable[str]) -> asyncio.Future[List[Optional[Alert]]]: ...
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
    ) -> asyncio.Future[List[Alert]]: ...
    def ack(self, key: str, ids: Ids) -> asyncio.Future[int]: ...
    def resolve(self, key: str, ids: Ids) -> asyncio.Future[int]: ...
    def delete(self, key: str, ids: Ids) -> asyncio.Future[int]: ...
    def info(self, key: str) -> asyncio.Future[AlertInfo]: ...
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
    ) -> asyncio.Future[None]: ...
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
    ) -> asyncio.Future[None]: ...
    def trim(self, key: str, *, maxlen: Optional[int] = None, min_ts: Optional[int] = None) -> asyncio.Future[int]: ...
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
    ) -> asyncio.Future[ReadReply]: ...
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
    ) -> asyncio.Future[int]: ...
    def unsilence(self, key: str, id: int) -> asyncio.Future[bool]: ...
    def silences(self, key: str) -> asyncio.Future[List[Silence]]: ...
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
    ) -> asyncio.Future[List[Group]]: ...
    # QUOTA.*
    def quota_set(
        self,
        key: str,
        limit: AmountLike,
        window_ms: Optional[int] = None,
        *,
        alerts: Optional[str] = None,
        at: Optional[Sequence[int]] = None,
    ) -> asyncio.Future[None]: ...
    def quota_incr(
        self, key: str, amount: AmountLike = 1, *, limit: Optional[AmountLike] = None, force: bool = False
    ) -> asyncio.Future[QuotaReply]: ...
    def quota_incr_evict(
        self, key: str, amount: AmountLike, tracker: str, *, max: Optional[int] = None, limit: Optional[AmountLike] = None, force: bool = False
    ) -> asyncio.Future[IncrEvictReply]: ...
    def quota_dry_run(
        self,
        key: str,
        amount: AmountLike = 1,
        *,
        limit: Optional[AmountLike] = None,
        force: bool = False,
        evict: Optional[str] = None,
        max: Optional[int] = None,
    ) -> asyncio.Future[IncrEvictReply]: ...
    def quota_get(self, key: str) -> asyncio.Future[Optional[QuotaReply]]: ...
    def quota_reset(self, key: str) -> asyncio.Future[None]: ...
    # LRU.*
    def lru_touch(
        self, tracker: str, keys: Union[Mapping[str, AmountLike], Iterable[Tuple[str, AmountLike]]]
    ) -> asyncio.Future[int]: ...
    def lru_forget(self, tracker: str, keys: Union[str, Iterable[str]]) -> asyncio.Future[int]: ...
    def lru_candidates(self, tracker: str, count: int = 10) -> asyncio.Future[List[LruCandidate]]: ...
    def lru_evict(
        self, tracker: str, target: AmountLike, *, quota: Optional[str] = None, max: Optional[int] = None
    ) -> asyncio.Future[EvictReply]: ...
    def lru_info(self, tracker: str) -> asyncio.Future[LruInfo]: ...
