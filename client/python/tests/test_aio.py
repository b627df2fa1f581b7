"""vigil.aio.Client: the same calls as awaitables, and the event loop keeps running while a call
waits (here, for a hung server)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

import vigil
import vigil.aio

DISK = {"severity": "high", "source": "db-1", "type": "disk", "labels": {"mount": "/var"}}


def test_calls_are_awaitables(server, journal_dir):
    async def main():
        async with vigil.aio.Client(server.url, journal_dir=journal_dir) as c:
            assert repr(c).startswith("<vigil.aio.Client url=")
            first = await c.add("alerts", DISK)
            assert isinstance(first, vigil.AddOutcome) and first.store == "redis"
            assert (await c.get("alerts", first.id)).source == "db-1"
            assert [a.id for a in await c.range("alerts", min_severity="high")] == [first.id]
            assert await c.ack("alerts", [first.id]) == 1
            assert (await c.info("alerts")).length == 1
            q = await c.quota_incr("tenant:q", "2.5", limit=10)
            assert (q.allowed, q.usage, q.remaining) == (True, Decimal("2.5"), Decimal("7.5"))
            with pytest.raises(vigil.ServerError, match="no such key"):
                await c.lru_info("tenant:{a}:lru")
            assert await c.flush(1) is True
            assert c.mode == "redis" and c.metrics().added == 1
            with pytest.raises(vigil.ServerError):
                await c.add("alerts", {"severity": "urgent"})
            with pytest.raises(vigil.InvalidArgument):
                await c.ack("alerts", "nope")  # raised at the call, before any await
            with pytest.raises(vigil.InvalidArgument, match="invalid integer"):
                await c.add("alerts", DISK, ts=-1)
        assert c.closed
        with pytest.raises(vigil.ClosedError):
            await c.add("alerts", DISK)

    asyncio.run(main())


def test_concurrent_writes_fold_into_one_alert(server):
    async def main():
        c = vigil.aio.Client(server.url)
        replies = await asyncio.gather(*(c.add("alerts", DISK) for _ in range(20)))
        outcomes = sorted(r.outcome for r in replies)
        assert outcomes == ["added"] + ["duplicate"] * 19
        assert {r.alert_id for r in replies} == {replies[0].alert_id}
        c.close()

    asyncio.run(main())
    assert [a["count"] for a in server.alerts("alerts")] == [20]


def test_a_hung_server_does_not_block_the_event_loop(server, journal_dir):
    """SIGSTOP: the server accepts nothing and answers nothing. The write waits for
    command_timeout, then goes to the journal; meanwhile the loop runs other tasks. Once the
    server is back, the replay leaves the alert in Redis once, whether or not the stopped server
    had received the first try."""

    async def main():
        c = vigil.aio.Client(
            server.url, journal_dir=journal_dir, command_timeout=0.5, probe_interval=0.05
        )
        assert (await c.add("alerts", {"source": "warm-up"})).store == "redis"
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        server.pause()
        # A call cancelled while it waits for Redis (the Rust future is dropped) leaves the
        # client usable.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.add("alerts", {"source": "cancelled"}), 0.05)
        started = time.monotonic()
        reply = await c.add("alerts", DISK)
        waited = time.monotonic() - started
        assert reply.store == "file"
        assert waited >= 0.4
        # About one tick per 10 ms while the call waited: the loop was free.
        assert ticks >= waited / 0.01 / 3, (ticks, waited)

        server.resume()
        assert await c.flush(10) is True
        ticking.cancel()
        c.close()
        return reply

    reply = asyncio.run(main())
    stored = [a for a in server.alerts("alerts") if a["source"] == "db-1"]
    assert [a["id"] for a in stored] == [reply.id]
