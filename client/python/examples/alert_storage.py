#!/usr/bin/env python3
"""The seeds' ``AlertStorage(redis_url=..., enable_fallback_cascade=True)``, rewritten on Vigil.

The seeds' class kept alerts in a Redis ZSET and HASHes driven by Lua scripts, deduplicated
and rate-limited them with SETNX keys, and wrote its own cascade Redis -> JSON file -> memory
list, in Python, around every call: the part where alerts got lost (a file rewritten whole on
every store, a memory list nobody replayed). Here each of those is one call of
``vigil.Client``, whose cascade (Redis -> fsync'ed journal -> bounded memory, replayed in
order and exactly once) is the Rust client's:

=============================  ============================================================
seeds' AlertStorage            on Vigil
=============================  ============================================================
store_alert(alert) -> bool     ``add``: dedup window, rate limit, MAXLEN, retention by the
                               module; False for a duplicate (folded: count + 1), a limited
                               or an expired alert
get_active_alerts()            ``range(status="active")``
get_recent_alerts(...)         ``range(start=now - since, rev=True, count=limit, ...)``
acknowledge_alert(id, by)      ``ack`` (journaled while Redis is away, replayed in order)
resolve_alert(id)              ``resolve``
check_rate_limit(...)          the stream's RATELIMIT: ``add`` answers ``limited``
purge_old_alerts() -> int      the stream's RETENTION does it; ``trim(min_ts=...)`` now
get_metrics() -> dict          ``metrics()``: storage_mode, failures, pending, replayed...
ping() -> bool                 ``mode == "redis"`` after a cheap read
=============================  ============================================================

Run it against a server with the module (``make run`` starts one on port 6379):

    python alert_storage.py [redis://127.0.0.1:6379/] [--journal DIR]

It stores three alerts (one a duplicate), lists the recent ones, acknowledges one and prints
the storage's metrics. With the server down it does the same from the journal (``storage_mode
file``) and exits; the next run, with the server up, finds that journal and replays it first.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from typing import Any, Dict, List, Mapping, Optional

import vigil

logger = logging.getLogger("alert_storage")

DAY_MS = 86_400_000


class AlertStorage:
    """Alert storage with the Redis -> file -> memory cascade, on Vigil.

    ``enable_fallback_cascade=True`` keeps writes Redis cannot take in the journal in
    ``journal_dir`` (fsync'ed before ``store_alert`` returns) and, if the disk fails too, in
    memory; ``False`` skips the journal (memory only while Redis is away, lost on exit).
    ``max_alerts`` and ``purge_days`` become the stream's MAXLEN and RETENTION.
    """

    def __init__(
        self,
        redis_url: str,
        journal_dir: str = "data/vigil-journal",
        key: str = "alerts",
        max_alerts: int = 1000,
        purge_days: int = 30,
        enable_fallback_cascade: bool = True,
        command_timeout: float = 2.0,
    ) -> None:
        self.key = key
        self.purge_days = purge_days
        self.enable_fallback_cascade = enable_fallback_cascade
        self.client = vigil.Client(
            redis_url,
            journal_dir=journal_dir if enable_fallback_cascade else None,
            command_timeout=command_timeout,
            connect_timeout=command_timeout,
        )
        self._settings = {"maxlen": max_alerts, "retention_ms": purge_days * DAY_MS}
        self._settings_applied = False
        self._apply_settings()

    def _apply_settings(self) -> None:
        """MAXLEN and RETENTION on the stream; Redis only, so tried again after an outage."""
        if self._settings_applied:
            return
        try:
            self.client.create(self.key, **self._settings)
        except vigil.ServerError:
            self.client.alter(self.key, **self._settings)  # the stream exists already
        except vigil.Unavailable as e:
            logger.warning("stream settings not applied yet (%s)", e)
            return
        self._settings_applied = True

    # Writes: Redis, else the journal, else memory -- never lost, never doubled on replay.

    def store_alert(self, alert: Mapping[str, Any]) -> bool:
        """Stores an alert (``severity``, ``source``, ``type``, ``labels`` and any other
        fields). True when it is a new alert; False when it was folded into an earlier one as
        a duplicate, refused by the rate limit, or older than the retention."""
        reply = self.client.add(self.key, dict(alert))
        if reply.provisional:
            logger.warning(
                "alert %s kept in the %s store until Redis is back", reply.id, reply.store
            )
        if reply.outcome == "duplicate":
            logger.debug("alert folded into %s (count %s)", reply.alert_id, reply.count)
        elif reply.outcome == "limited":
            logger.info("rate limited, retry after %s ms", reply.retry_after_ms)
        return reply.outcome == "added"

    def acknowledge_alert(self, alert_id: str, acknowledged_by: Optional[str] = None) -> bool:
        """Acknowledges an alert. While Redis is away the ACK is journaled and replayed in order
        (True: it will be applied). Vigil's ACK does not record who: ``acknowledged_by`` goes
        to the log."""
        changed = self.client.ack(self.key, alert_id)
        logger.info("alert %s acknowledged by %s", alert_id, acknowledged_by or "-")
        return changed > 0 or self.client.mode != "redis"

    def resolve_alert(self, alert_id: str) -> bool:
        changed = self.client.resolve(self.key, alert_id)
        return changed > 0 or self.client.mode != "redis"

    # Reads: from Redis, or in fallback from what the journal and memory hold.

    def get_recent_alerts(
        self,
        limit: int = 50,
        since_minutes: Optional[int] = None,
        min_severity: Optional[vigil.Severity] = None,
        alert_type: Optional[str] = None,
    ) -> List[vigil.Alert]:
        """Newest first."""
        start: Any = "-"
        if since_minutes is not None:
            start = int(time.time() * 1000) - since_minutes * 60_000
        return self.client.range(
            self.key, start, "+", rev=True, count=limit, min_severity=min_severity,
            type=alert_type,
        )

    def get_active_alerts(self, min_severity: Optional[vigil.Severity] = None) -> List[vigil.Alert]:
        return self.client.range(self.key, status="active", min_severity=min_severity)

    def purge_old_alerts(self) -> int:
        """The stream's retention removes old alerts by itself; this trims now (Redis only:
        0 while it is away)."""
        try:
            return self.client.trim(self.key, min_ts=int(time.time() * 1000) - self.purge_days * DAY_MS)
        except vigil.Unavailable:
            return 0

    # Health and observability.

    def ping(self) -> bool:
        """True when writes go to Redis."""
        self._apply_settings()
        return self.client.mode == "redis"

    def get_metrics(self) -> Dict[str, Any]:
        m = self.client.metrics()
        metrics: Dict[str, Any] = {
            "storage_mode": m.mode,
            "fallback_cascade_enabled": self.enable_fallback_cascade,
            "is_degraded": m.mode != "redis",
            "redis_failures": m.failures,
            "journal_failures": m.journal_failures,
            "pending": m.pending,
            "replayed": m.replayed,
            "dropped": m.dropped,
        }
        try:
            info = self.client.info(self.key)
            metrics.update(total_alerts=info.length, max_alerts=info.maxlen)
        except vigil.ServerError:  # no stream yet
            metrics.update(total_alerts=0)
        return metrics

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until what the journal and memory hold is in Redis."""
        done = self.client.flush(timeout)
        if done:
            self._apply_settings()
        return done

    def close(self) -> None:
        self.client.close()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", default="redis://127.0.0.1:6379/")
    parser.add_argument("--journal", default="vigil-journal", help="journal directory")
    parser.add_argument("--key", default="alerts:example")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    storage = AlertStorage(args.url, journal_dir=args.journal, key=args.key, command_timeout=0.5)
    client = storage.client
    print(f"storage: mode={client.mode} pending={client.pending} (journal {args.journal})")
    # A journal an earlier run left: the client started in file mode and its probe replays it
    # (perhaps already done by now); wait for that, so that this run's writes come after it.
    if (client.mode != "redis" or client.pending) and not storage.flush(timeout=5):
        print(f"replay:  Redis still unavailable, {client.pending} write(s) wait")
    elif client.metrics().replayed:
        print(f"replay:  {client.metrics().replayed} write(s) an earlier run left in the "
              "journal are in Redis now")

    # One run's alerts carry its own label, so that a second run stores new ones.
    run = uuid.uuid4().hex[:6]
    disk_full = {"severity": "critical", "source": "db-1", "type": "disk_full",
                 "labels": {"mount": "/var", "run": run}, "message": "disk 97% full"}
    slow = {"severity": "low", "source": "web-3", "type": "slow_request",
            "labels": {"run": run}, "p99_ms": 2300}
    for name, alert in [("disk_full", disk_full), ("disk_full again", disk_full),
                        ("slow_request", slow)]:
        print(f"store:   {name:<16} -> {'new' if storage.store_alert(alert) else 'not new'}"
              f" ({client.mode})")

    recent = [a for a in storage.get_recent_alerts(limit=10, since_minutes=60)
              if a.labels.get("run") == run]
    print(f"recent:  {len(recent)} alert(s) of this run, newest first:")
    for a in recent:
        print(f"         {a.id}  {a.severity:<8} {a.source:<5} {a.type:<12} count={a.count} {a.status}")
    critical = next(a for a in recent if a.severity == "critical")
    acked = storage.acknowledge_alert(critical.id, acknowledged_by="oncall")
    status = client.get(args.key, critical.id).status
    print(f"ack:     {critical.id} -> {acked} (status {status})")
    active = [a for a in storage.get_active_alerts() if a.labels.get("run") == run]
    print(f"active:  {len(active)} alert(s) of this run still active")
    metrics = storage.get_metrics()
    print("metrics: " + " ".join(f"{k}={v}" for k, v in metrics.items()))
    storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
