"""The cascade from Python: the server goes down, writes go to the journal (or to memory), the
server comes back on the same port and directory, and the replay puts each write in Redis
exactly once."""

from __future__ import annotations

import shutil
import time

import pytest

import vigil

N = 50


def outage_alert(i: int) -> dict:
    return {"severity": "high", "source": f"s{i}", "type": "outage", "seq": i}


def journal_files(journal_dir):
    return sorted(journal_dir.glob("journal-*.log"))


def test_server_down_journal_then_replay_exactly_once(server, journal_dir, tmp_path):
    client = vigil.Client(
        server.url, journal_dir=journal_dir, command_timeout=0.5, probe_interval=0.05
    )
    before = client.add("alerts", {"source": "before", "type": "up"})
    assert before.store == "redis"

    server.stop()
    ids = []
    for i in range(N):
        reply = client.add("alerts", outage_alert(i))
        assert (reply.store, reply.outcome, reply.provisional) == ("file", "added", True)
        ids.append(reply.id)
    # The journal's view folds a duplicate as Redis would.
    dup = client.add("alerts", outage_alert(0))
    assert (dup.store, dup.outcome, dup.alert_id, dup.count) == ("file", "duplicate", ids[0], 2)
    # ACK of an alert only Redis holds: none of the journal's alerts changed, Redis will ack it.
    assert client.ack("alerts", before.id) == 0
    assert (client.mode, client.pending) == ("file", N + 2)
    assert journal_files(journal_dir), "the writes are in journal files"
    m = client.metrics()
    assert (m.mode, m.fallback_file, m.pending_file, m.fallback_memory) == ("file", N + 2, N + 2, 0)
    # Reads answer from the journal meanwhile.
    held = client.range("alerts", type="outage")
    assert [a.id for a in held] == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert client.get("alerts", ids[0]).count == 2
    # Quotas have no fallback.
    with pytest.raises(vigil.Unavailable):
        client.quota_incr("tenant:q", 1)
    # A copy of the journal as it is before the replay (for the second replay below).
    copy = tmp_path / "journal-copy"
    shutil.copytree(journal_dir, copy, ignore=shutil.ignore_patterns("lock"))

    server.start()
    assert client.flush(10) is True
    assert (client.mode, client.pending) == ("redis", 0)
    m = client.metrics()
    assert (m.replayed, m.added, m.duplicate, m.exists) == (N + 2, 1 + N, 1, 0)

    stored = server.alerts("alerts")
    outage = [a for a in stored if a["type"] == "outage"]
    assert sorted(a["seq"] for a in outage) == list(range(N)), "each alert exactly once"
    assert sorted(a["id"] for a in outage) == sorted(ids), "with the IDs the client made"
    assert {a["seq"]: a["count"] for a in outage}[0] == 2
    assert [a["status"] for a in stored if a["source"] == "before"] == ["acked"]
    assert len(stored) == N + 1
    assert not journal_files(journal_dir), "a fully replayed journal is deleted"
    client.close()

    # The same journal replayed a second time (a crash between Redis's answer and the
    # journal's cursor, say): every write carries its ID, Redis answers `exists`.
    again = vigil.Client(server.url, journal_dir=copy, command_timeout=0.5, probe_interval=0.05)
    assert again.flush(10) is True
    m = again.metrics()
    assert (m.replayed, m.added, m.duplicate, m.exists) == (N + 2, 0, 0, N + 1)
    assert server.alerts("alerts") == stored
    again.close()


def test_the_probe_replays_without_being_asked(server, journal_dir):
    client = vigil.Client(
        server.url, journal_dir=journal_dir, command_timeout=0.5, probe_interval=0.05
    )
    server.stop()
    for i in range(5):
        assert client.add("alerts", outage_alert(i)).store == "file"
    server.start()
    deadline = time.monotonic() + 10
    while client.pending or client.mode != "redis":
        assert time.monotonic() < deadline, f"still {client.pending} pending in {client.mode}"
        time.sleep(0.05)
    assert sorted(a["seq"] for a in server.alerts("alerts")) == list(range(5))
    client.close()


def test_memory_store_without_a_journal(server):
    client = vigil.Client(server.url, command_timeout=0.5, probe_interval=0.05, memory_capacity=3)
    server.stop()
    replies = [client.add("alerts", outage_alert(i)) for i in range(4)]
    assert [r.store for r in replies] == ["memory"] * 4
    m = client.metrics()
    # Full at 3: the oldest write was dropped, and said so.
    assert (m.mode, m.pending_memory, m.dropped) == ("memory", 3, 1)
    server.start()
    assert client.flush(10) is True
    assert sorted(a["seq"] for a in server.alerts("alerts")) == [1, 2, 3]
    client.close()


def test_flush_returns_by_its_timeout_whatever_the_probe_interval(tmp_path):
    # flush() waited a whole probe interval between its attempts, past its own timeout.
    c = vigil.Client("redis://127.0.0.1:1/", probe_interval=5.0, connect_timeout=0.2)
    try:
        assert c.add("alerts", {"source": "a"}).store == "memory"
        start = time.monotonic()
        assert c.flush(0.5) is False
        took = time.monotonic() - start
        assert took < 2.0, f"flush(0.5) took {took:.2f} s"
    finally:
        c.close()


def test_the_fallback_takes_documents_up_to_max_document_bytes(tmp_path):
    big = {"source": "a", "blob": "x" * 100_000}
    with vigil.Client("redis://127.0.0.1:1/", connect_timeout=0.2) as c:
        with pytest.raises(vigil.InvalidDocument, match="max-document-bytes"):
            c.add("alerts", big)
    with vigil.Client(
        "redis://127.0.0.1:1/", connect_timeout=0.2, max_document_bytes=1_000_000
    ) as c:
        assert c.add("alerts", big).store == "memory"
