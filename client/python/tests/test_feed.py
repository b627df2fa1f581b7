"""The change feed (read, follow), silences and groups, from Redis and across an outage; and
several seed URLs (a single-node Redis Cluster)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

import vigil
import vigil.aio

from conftest import reopen


def alert(source: str, severity: str = "high", **labels: str) -> dict:
    return {"severity": severity, "source": source, "type": "t", "labels": labels}


def now_ms() -> int:
    return int(time.time() * 1000)


def test_read_returns_changes_and_where_to_read_on(client):
    a = client.add("alerts", alert("a")).id
    b = client.add("alerts", alert("b", "low")).id
    first = client.read("alerts", "0")
    assert isinstance(first, vigil.ReadReply) and first.store == "redis"
    assert [c.alert.id for c in first.changes] == [a, b]
    assert all(isinstance(c, vigil.Change) and c.cursor for c in first.changes)
    assert client.read("alerts", first.next).changes == []
    # A change to an alert brings it back, in its current state, once.
    client.ack("alerts", a)
    client.add("alerts", alert("a"))  # a duplicate: count 2
    again = client.read("alerts", first.next)
    assert [(c.alert.id, c.alert.status, c.alert.count) for c in again.changes] == [
        (a, "acked", 2)]
    assert [c.alert.id for c in client.read("alerts", "0", min_severity="high").changes] == [a]
    assert len(client.read("alerts", "0", count=1).changes) == 1
    # BLOCK that runs out: nothing, the same position.
    started = time.monotonic()
    timed_out = client.read("alerts", again.next, block_ms=200)
    assert timed_out.changes == [] and timed_out.next == again.next
    assert time.monotonic() - started >= 0.15
    with pytest.raises(vigil.InvalidArgument):
        client.read("alerts", "not a cursor")
    with pytest.raises(vigil.InvalidArgument):
        client.read("alerts", "0", block_ms=0)


def test_a_blocked_read_wakes_on_a_write(client, server):
    start = client.read("alerts", "$").next
    writer = vigil.Client(server.url)
    timer = threading.Timer(0.2, lambda: writer.add("alerts", alert("late")))
    timer.start()
    started = time.monotonic()
    woken = client.read("alerts", start, block_ms=5000)
    assert [c.alert.source for c in woken.changes] == ["late"]
    assert time.monotonic() - started < 4
    timer.join()


def test_follow_a_feed_from_a_stored_cursor(client):
    client.add("alerts", alert("a"))
    feed = client.follow("alerts", "0")
    assert isinstance(feed, vigil.Feed)
    assert feed.next(timeout=2).alert.source == "a"
    assert feed.next(timeout=0.2) is None
    stored = feed.cursor
    client.add("alerts", alert("b"))
    assert next(iter(feed)).alert.source == "b"
    # A feed opened on the stored cursor goes on after the last change returned then.
    resumed = client.follow("alerts", stored)
    assert resumed.next(timeout=2).alert.source == "b"
    assert resumed.restarts == 0 and "alerts" in repr(resumed)


def test_ctrl_c_stops_a_feed_waiting_with_or_without_a_timeout(client):
    feed = client.follow("alerts", "$")
    # Python's own Ctrl-C handler, which it does not install when it starts with SIGINT
    # ignored (as a job started with `&` by a shell without job control does).
    kept = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for timeout in (30, None):
            timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
            started = time.monotonic()
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                feed.next(timeout=timeout)
            timer.join()
            assert time.monotonic() - started < 5
    finally:
        signal.signal(signal.SIGINT, kept)
    # The feed goes on where it was.
    client.add("alerts", alert("after"))
    assert feed.next(timeout=2).alert.source == "after"


def test_a_feed_of_a_closed_client_raises(server):
    with vigil.Client(server.url) as c:
        feed = c.follow("alerts", "0")
        c.add("alerts", alert("a"))
        assert feed.next(timeout=2).alert.source == "a"
    with pytest.raises(vigil.ClosedError):
        feed.next(timeout=0.1)
    with pytest.raises(vigil.ClosedError):
        next(iter(feed))

    async def main():
        async with vigil.aio.Client(server.url) as c:
            feed = c.follow("alerts", "0")
            assert (await feed.next(timeout=2)).alert.source == "a"
        with pytest.raises(vigil.ClosedError):
            await feed.next(timeout=0.1)

    asyncio.run(main())


def test_closing_a_client_frees_its_journal_while_its_feeds_live(server, tmp_path):
    # A feed held on to its client until Python collected it: the journal directory stayed
    # locked after close(), and a new client on it got ConfigError (found by an audit).
    journal = tmp_path / "j"
    for flavour in ("sync", "async"):
        if flavour == "sync":
            c = vigil.Client(server.url, journal_dir=journal)
            feed = c.follow("alerts", "0", block_ms=100)
            c.close()
        else:

            async def follow_and_close():
                c = vigil.aio.Client(server.url, journal_dir=journal)
                f = c.follow("alerts", "0", block_ms=100)
                await c.__aexit__(None, None, None)
                return f

            feed = asyncio.run(follow_and_close())
        # The feed is still here; the directory is free at once, as without a feed.
        reopen(server.url, journal, f"{flavour}: the journal")
        assert feed is not None


def test_async_feed(server):
    async def main():
        async with vigil.aio.Client(server.url) as c:
            feed = c.follow("alerts", "$", block_ms=100)
            assert await feed.next(timeout=0.2) is None

            async def later():
                await asyncio.sleep(0.2)
                await c.add("alerts", alert("x"))

            task = asyncio.create_task(later())
            async for change in feed:
                assert change.alert.source == "x"
                break
            await task
            replies = await c.read("alerts", "0")
            assert [ch.alert.source for ch in replies.changes] == ["x"]

    asyncio.run(main())


def test_silences(client):
    until = now_ms() + 60_000
    sid = client.silence("alerts", until, source="noisy", comment="deploy")
    [s] = client.silences("alerts")
    assert isinstance(s, vigil.Silence)
    assert (s.id, s.until, s.source, s.comment, s.type, s.labels) == (
        sid, until, "noisy", "deploy", None, {})
    client.add("alerts", alert("noisy"))
    client.add("alerts", alert("quiet"))
    assert [c.alert.source for c in client.read("alerts", "0").changes] == ["quiet"]
    assert [c.alert.source for c in client.read("alerts", "0", with_silenced=True).changes] == [
        "noisy", "quiet"]
    assert client.silences("alerts")[0].covered == 1
    assert client.unsilence("alerts", sid) is True
    assert client.silences("alerts") == []
    with pytest.raises(vigil.Refused):
        client.silence("alerts", until)  # no matcher


def test_groups(client):
    client.add("alerts", alert("a", "high", mount="/"))
    client.add("alerts", alert("b", "high", mount="/var"))
    client.add("alerts", alert("c", "low"))
    client.add("alerts", alert("c", "low"))  # a duplicate: 2 occurrences, 1 alert
    by_sev = {g.value: (g.alerts, g.occurrences) for g in client.groups("alerts", "severity")}
    assert by_sev == {"high": (2, 2), "low": (1, 2)}
    by_mount = client.groups("alerts", "label:mount")
    assert all(isinstance(g, vigil.Group) for g in by_mount)
    assert [(g.value, g.alerts) for g in by_mount] == [(None, 1), ("/", 1), ("/var", 1)]
    assert [g.value for g in client.groups("alerts", "source", min_severity="high")] == ["a", "b"]
    with pytest.raises(vigil.InvalidArgument):
        client.groups("alerts", "colour")


def test_feed_silences_and_groups_across_an_outage(server, journal_dir):
    client = vigil.Client(
        server.url, journal_dir=journal_dir, command_timeout=0.5, probe_interval=0.05
    )
    server.stop()
    a = client.add("alerts", alert("down"))
    sid = client.silence("alerts", now_ms() + 60_000, source="noisy")
    assert a.store == "file"
    # Reads answer from the journal: its own changes, its silences, its groups.
    local = client.read("alerts", "0")
    assert local.store == "file" and [c.alert.id for c in local.changes] == [a.id]
    assert [s.id for s in client.silences("alerts")] == [sid]
    assert [(g.value, g.alerts) for g in client.groups("alerts", "source")] == [("down", 1)]
    server.start()
    assert client.flush(10) is True
    # Replayed once each: the silence with the ID the client gave it.
    assert [s.id for s in client.silences("alerts")] == [sid]
    remote = client.read("alerts", "0")
    assert remote.store == "redis" and [c.alert.id for c in remote.changes] == [a.id]
    client.close()


def test_several_seed_urls_speak_to_a_cluster(cluster_node, tmp_path):
    dead = "redis://127.0.0.1:1/"  # nothing listens there
    with vigil.Client([dead, cluster_node.url], journal_dir=tmp_path / "j") as c:
        reply = c.add("tenant:{acme}:alerts", alert("db-1"))
        assert reply.store == "redis"
        assert c.quota_incr("tenant:{acme}:q", 2).usage == 2
        assert [a.id for a in c.range("tenant:{acme}:alerts")] == [reply.id]
        assert c.metrics().fallback_slots == 0
    # One URL with cluster=True is a cluster too.
    with vigil.Client(cluster_node.url, cluster=True) as c:
        assert c.get("tenant:{acme}:alerts", reply.id).source == "db-1"
    with pytest.raises(vigil.ConfigError, match="cluster=False"):
        vigil.Client([cluster_node.url, dead], cluster=False)
