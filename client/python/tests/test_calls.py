"""The typed calls against a real server: what each returns, and what each raises."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

import vigil
import vigil.aio

from conftest import free_port, reopen

DISK = {"severity": "high", "source": "db-1", "type": "disk", "labels": {"mount": "/var"}}


def minute_ago() -> int:
    """A ms timestamp within the streams' default retention."""
    return int(time.time() * 1000) - 60_000


def test_add_returns_the_outcome_and_the_store(client, server):
    first = client.add("alerts", DISK)
    assert (first.outcome, first.store, first.count) == ("added", "redis", 1)
    assert first.alert_id == first.id and not first.provisional
    # The same alert again folds into the first (same fingerprint, within the dedup window).
    again = client.add("alerts", DISK)
    assert (again.outcome, again.alert_id, again.count) == ("duplicate", first.id, 2)
    assert again.id != first.id  # the write's own ID
    # An explicit ID seen before: a retry or a replay, nothing changes.
    given = f"{minute_ago()}-7"
    retry = client.add("alerts", {"source": "web", "type": "slow"}, id=given)
    assert (retry.outcome, retry.id) == ("added", given)
    exists = client.add("alerts", {"source": "web", "type": "slow"}, id=given)
    assert (exists.outcome, exists.alert_id) == ("exists", given)
    assert [a["count"] for a in server.alerts("alerts")] == [1, 2]


def test_add_takes_json_text_and_a_timestamp(client):
    now = client.add("alerts", '{"severity":"low","source":"cron"}').alert_id
    ts = int(now.split("-")[0])
    reply = client.add("alerts", '{"severity":"low","source":"cron2"}', ts=ts - 1000)
    assert reply.id.startswith(f"{ts - 1000}-")
    alert = client.get("alerts", reply.id)
    assert (alert.ts, alert.source, alert.severity) == (ts - 1000, "cron2", "low")


def test_alerts_carry_their_fields_and_their_document(client):
    doc = dict(DISK, used_pct=92.5, big=12345678901234567890123, note="é")
    alert = client.get("alerts", client.add("alerts", doc).id)
    assert isinstance(alert, vigil.Alert)
    assert (alert.status, alert.count, alert.severity, alert.source, alert.type) == (
        "active", 1, "high", "db-1", "disk")
    assert alert.labels == {"mount": "/var"}
    assert alert.last_seen == alert.ts
    # Numbers as sent: Python's ints are exact.
    assert alert.document["big"] == 12345678901234567890123
    assert alert.document["used_pct"] == 92.5 and alert.document["note"] == "é"
    assert alert.document["id"] == alert.id
    assert '"big":12345678901234567890123' in alert.json


def test_get_one_or_several(client):
    a = client.add("alerts", DISK).id
    assert client.get("alerts", a).id == a
    assert client.get("alerts", "1-1") is None
    got = client.get("alerts", [a, "1-1"])
    assert [g and g.id for g in got] == [a, None]
    assert client.get("alerts", (x for x in [a])) [0].id == a


def test_range_filters(client):
    base = minute_ago()
    ids = {}
    for i, (sev, src, typ, mount) in enumerate([
        ("critical", "db-1", "disk", "/"),
        ("low", "db-1", "cpu", "/"),
        ("high", "web-1", "disk", "/var"),
        ("info", "web-1", "latency", "/var"),
    ]):
        ids[i] = client.add(
            "alerts",
            {"severity": sev, "source": src, "type": typ, "labels": {"mount": mount}},
            ts=base + i * 1000,
        ).id
    every = client.range("alerts")
    assert [a.id for a in every] == [ids[0], ids[1], ids[2], ids[3]]
    assert [a.id for a in client.range("alerts", rev=True, count=2)] == [ids[3], ids[2]]
    assert [a.id for a in client.range("alerts", min_severity="high")] == [ids[0], ids[2]]
    assert [a.id for a in client.range("alerts", source="web-1")] == [ids[2], ids[3]]
    assert [a.id for a in client.range("alerts", type="disk")] == [ids[0], ids[2]]
    assert [a.id for a in client.range("alerts", labels={"mount": "/var"})] == [ids[2], ids[3]]
    assert [a.id for a in client.range("alerts", labels=[("mount", "/"), ("mount", "/")])] == [
        ids[0], ids[1]]
    # Bounds: ms timestamps (int or digits) and full IDs.
    assert [a.id for a in client.range("alerts", base + 1000, str(base + 2000))] == [
        ids[1], ids[2]]
    assert [a.id for a in client.range("alerts", ids[2], "+")] == [ids[2], ids[3]]
    client.ack("alerts", ids[0])
    assert [a.id for a in client.range("alerts", status="acked")] == [ids[0]]
    assert [a.id for a in client.range("alerts", status="active", min_severity="HIGH")] == [ids[2]]


def test_ack_resolve_delete_count_what_changed(client, server):
    a = client.add("alerts", DISK).id
    b = client.add("alerts", {"source": "web"}).id
    assert client.ack("alerts", [a, b]) == 2
    assert client.ack("alerts", a) == 0
    assert client.resolve("alerts", a) == 1
    assert client.get("alerts", a).status == "resolved"
    assert client.delete("alerts", [a, "1-1"]) == 1
    assert [x["id"] for x in server.alerts("alerts")] == [b]


def test_info_create_alter_trim(client):
    client.create("alerts", maxlen=100, dedup_ms=0, ratelimit=(0, 0))
    info = client.info("alerts")
    assert isinstance(info, vigil.AlertInfo)
    assert (info.length, info.maxlen, info.dedup, info.first_ts) == (0, 100, 0, None)
    client.alter("alerts", maxlen=3)
    base = minute_ago()
    for i in range(5):
        client.add("alerts", DISK, ts=base + i)
    info = client.info("alerts")
    # dedup 0: no folding; MAXLEN 3 keeps the newest three.
    assert (info.length, info.maxlen, info.first_ts, info.last_ts) == (3, 3, base + 2, base + 4)
    assert client.trim("alerts", maxlen=1) == 2
    assert client.trim("alerts", min_ts=base + 5) == 1
    with pytest.raises(vigil.InvalidArgument):
        client.trim("alerts")
    with pytest.raises(vigil.ServerError) as e:
        client.create("alerts")
    assert e.value.code == "ERR" and isinstance(e.value, vigil.Refused)


def test_quotas_are_exact_decimals(client):
    assert client.quota_get("tenant:q") is None
    client.quota_set("tenant:q", "10.5")
    q = client.quota_incr("tenant:q", Decimal("0.000001"))
    assert isinstance(q, vigil.QuotaReply)
    assert (q.allowed, q.usage, q.limit, q.remaining, q.reset_ms) == (
        True, Decimal("0.000001"), Decimal("10.5"), Decimal("10.499999"), None)
    q = client.quota_incr("tenant:q", 0.1)
    assert q.usage == Decimal("0.100001")
    refused = client.quota_incr("tenant:q", 20)
    assert (refused.allowed, refused.usage) == (False, Decimal("0.100001"))
    forced = client.quota_incr("tenant:q", 20, force=True)
    assert (forced.allowed, forced.usage, forced.remaining) == (
        False, Decimal("20.100001"), Decimal(0))
    client.quota_reset("tenant:q")
    assert client.quota_get("tenant:q").usage == 0
    # LIMIT given with the increment; a windowed quota has a reset time.
    q = client.quota_incr("tenant:w", limit=5)
    assert (q.usage, q.limit) == (1, 5)
    client.quota_set("tenant:w", 5, window_ms=60_000)
    assert client.quota_get("tenant:w").reset_ms is not None
    # Unlimited: no limit, no remaining.
    assert client.quota_incr("tenant:free", "3").limit is None
    for bad in ["1.1234567", "1e3", "+5", "", Decimal("NaN")]:
        with pytest.raises(vigil.InvalidArgument):
            client.quota_incr("tenant:q", bad)
    with pytest.raises(TypeError):
        client.quota_incr("tenant:q", True)


def test_integers_out_of_range_are_invalid_arguments(client, server):
    # Before, a negative or too large int raised pyo3's bare OverflowError, neither a
    # VigilError nor a ValueError (found by an audit of the package).
    calls = [
        lambda: client.add("alerts", {"source": "a"}, ts=-1),
        lambda: client.add("alerts", {"source": "a"}, ts=2**64),
        lambda: client.range("alerts", count=-1),
        lambda: client.trim("alerts", maxlen=-5),
        lambda: client.unsilence("alerts", -1),
        lambda: client.lru_candidates("tenant:lru", -1),
        lambda: client.create("alerts:new", retention_ms=-1),
        lambda: client.create("alerts:new", ratelimit=(1, -1)),
        lambda: client.quota_set("q", 100, alerts="q:alerts", at=[-5]),
        lambda: vigil.Client(server.url, memory_capacity=-1),
        lambda: vigil.Client(server.url, replay_batch=-1),
        lambda: vigil.Client(server.url, max_journal_bytes=2**64),
        lambda: vigil.Client(server.url, max_document_bytes=2**64),
    ]
    for call in calls:
        with pytest.raises(vigil.InvalidArgument, match="invalid integer"):
            call()
    # A threshold that is an int but no percentage at all (the server judges 0 or 1001).
    with pytest.raises(vigil.InvalidArgument, match="invalid pct 70000"):
        client.quota_set("q", 100, alerts="q:alerts", at=[70000])
    assert client.range("alerts") == []
    with pytest.raises(TypeError):
        client.range("alerts", count="3")


def test_quotas_that_make_room_and_raise_alerts(client, server):
    tracker, quota = "tenant:{acme}:lru", "tenant:{acme}:bytes"
    for n in (1, 2):
        server.cmd("SET", f"tenant:{{acme}}:obj:{n}", "x")
    client.quota_set(quota, 1000)
    client.quota_incr(quota, 800)
    client.lru_touch(tracker, {"tenant:{acme}:obj:1": 300})
    client.lru_touch(tracker, {"tenant:{acme}:obj:2": 500})
    # A dry run answers what the eviction will, and changes nothing.
    dry = client.quota_dry_run(quota, 400, evict=tracker)
    assert isinstance(dry, vigil.IncrEvictReply)
    assert (dry.quota.allowed, dry.quota.usage, dry.evicted) == (
        True, Decimal(900), ["tenant:{acme}:obj:1"])
    assert server.cmd("EXISTS", "tenant:{acme}:obj:1") == 1
    assert client.quota_get(quota).usage == 800
    assert client.quota_incr_evict(quota, 400, tracker) == dry
    assert server.cmd("EXISTS", "tenant:{acme}:obj:1") == 0
    assert client.quota_get(quota).usage == 900
    # With force, an amount that cannot fit even after evicting is applied without evicting.
    over = client.quota_incr_evict(quota, 5000, tracker, force=True)
    assert (over.quota.allowed, over.quota.usage, over.evicted) == (False, Decimal(5900), [])
    assert server.cmd("EXISTS", "tenant:{acme}:obj:2") == 1
    # Threshold alerts in a stream of the quota's slot.
    stream = "tenant:{acme}:alerts"
    client.quota_set("tenant:{acme}:calls", 100, alerts=stream, at=[80])
    assert client.range(stream) == []
    client.quota_incr("tenant:{acme}:calls", 85)
    [raised] = client.range(stream)
    assert (raised.type, raised.status) == ("quota_threshold", "active")
    with pytest.raises(vigil.InvalidArgument):
        client.quota_set("tenant:{acme}:calls", 100, alerts=stream)


def test_lru_trackers(client, server):
    for n in (1, 2, 3):
        server.cmd("SET", f"tenant:{{acme}}:img:{n}", "x")
    tracker, quota = "tenant:{acme}:lru", "tenant:{acme}:bytes"
    client.quota_incr(quota, 600)
    assert client.lru_touch(tracker, {"tenant:{acme}:img:1": 100, "tenant:{acme}:img:2": "200"}) == 2
    assert client.lru_touch(tracker, [("tenant:{acme}:img:3", Decimal("300")),
                                      ("tenant:{acme}:img:9", 1)]) == 1  # img:9 does not exist
    cands = client.lru_candidates(tracker, 2)
    assert [(c.key, c.size) for c in cands] == [
        ("tenant:{acme}:img:1", 100), ("tenant:{acme}:img:2", 200)]
    info = client.lru_info(tracker)
    assert (info.keys, info.total, info.evicted) == (3, Decimal(600), 0)
    evicted = client.lru_evict(tracker, 300, quota=quota)
    assert isinstance(evicted, vigil.EvictReply)
    assert (evicted.evicted, evicted.freed, evicted.total) == (2, 300, 300)
    assert evicted.keys == ["tenant:{acme}:img:1", "tenant:{acme}:img:2"]
    assert server.cmd("EXISTS", "tenant:{acme}:img:1", "tenant:{acme}:img:3") == 1
    assert client.quota_get(quota).usage == 300
    assert client.lru_forget(tracker, "tenant:{acme}:img:3") == 1
    assert client.lru_info(tracker).keys == 0
    with pytest.raises(vigil.ServerError):
        client.lru_touch(tracker, {"other:{x}:key": 1})  # outside the tracker's namespace


def test_errors_are_typed(client, server):
    server.cmd("SET", "plain", "x")
    with pytest.raises(vigil.ServerError) as e:
        client.add("plain", DISK)
    assert e.value.code == "WRONGTYPE"
    with pytest.raises(vigil.ServerError) as e:
        client.add("alerts", {"severity": "urgent"})
    assert e.value.detail == "invalid severity 'urgent', expected critical|high|medium|low|info"
    with pytest.raises(vigil.ServerError, match="field 'id' is set by the server"):
        client.add("alerts", {"id": "1-1"})
    with pytest.raises(vigil.InvalidArgument):
        client.ack("alerts", "not-an-id")
    with pytest.raises(vigil.InvalidArgument):
        client.range("alerts", min_severity="urgent")
    with pytest.raises(vigil.InvalidArgument):
        client.range("alerts", "yesterday")
    with pytest.raises(TypeError):
        client.range("alerts", 1.5)
    # Refused writes are not kept for replay.
    assert client.mode == "redis" and client.pending == 0


def test_a_refused_document_reads_the_same_in_fallback(server, tmp_path):
    """The server refuses a document with its text; in fallback, vigil-core refuses it with
    the same text (InvalidDocument), so that no journal holds what cannot be replayed."""
    bad = '{"severity":"high","severity":"low"}'
    up = vigil.Client(server.url)
    with pytest.raises(vigil.ServerError) as from_server:
        up.add("alerts", bad)
    down = vigil.Client("redis://127.0.0.1:1/", journal_dir=tmp_path / "j", command_timeout=0.3)
    with pytest.raises(vigil.InvalidDocument) as from_fallback:
        down.add("alerts", bad)
    assert str(from_fallback.value) == str(from_server.value)
    assert isinstance(from_fallback.value, vigil.Refused) and down.pending == 0
    # A silence until past the largest time the server reads: refused, not journaled and then
    # rejected at replay.
    with pytest.raises(vigil.ServerError) as from_server:
        up.silence("alerts", 2**63, source="x")
    with pytest.raises(vigil.InvalidDocument) as from_fallback:
        down.silence("alerts", 2**63, source="x")
    assert str(from_fallback.value) == str(from_server.value)
    assert down.pending == 0


def test_metrics_mode_and_prometheus(client):
    for i in range(3):
        client.add("alerts", {"source": f"s{i}"})
    client.add("alerts", {"source": "s0"})
    m = client.metrics()
    assert isinstance(m, vigil.Metrics)
    assert (m.mode, m.added, m.duplicate, m.pending, m.fallbacks) == ("redis", 3, 1, 0, 0)
    assert client.mode == "redis" and client.pending == 0
    text = client.prometheus()
    assert 'vigil_client_mode{mode="redis"} 1' in text
    assert 'vigil_client_outcomes_total{outcome="added"} 3' in text
    assert client.flush(1.0) is True


def test_configuration_errors(server, journal_dir):
    with vigil.Client(server.url, journal_dir=journal_dir) as first:
        # One client per journal directory.
        with pytest.raises(vigil.ConfigError):
            vigil.Client(server.url, journal_dir=journal_dir)
        assert not first.closed
    assert first.closed
    with pytest.raises(vigil.ClosedError):
        first.add("alerts", DISK)
    # Closed (the `with` block waited for the background probe's round): free again at once.
    reopen(server.url, journal_dir)
    with pytest.raises(vigil.ConfigError):
        vigil.Client("http://nowhere/")
    with pytest.raises(vigil.ConfigError, match="no URL"):
        vigil.Client([])
    assert vigil.Client([server.url]).add("alerts", DISK).store == "redis"
    with pytest.raises(vigil.InvalidArgument):
        vigil.Client(server.url, command_timeout=-1)


def test_close_frees_the_journal_directory_at_once(tmp_path):
    # Redis away: a write waits in the journal and every round of the probe tries a replay.
    # close() (and the end of a `with` block) waits for the round, so the next client opens
    # the directory at once; before, an open right after close() met the lock in about half
    # of the tries. The asyncio client's aclose() and `async with` alike, its close() not.
    journal = tmp_path / "j"
    url = f"redis://127.0.0.1:{free_port()}/"
    fast = dict(journal_dir=journal, probe_interval=0.001, command_timeout=0.2, connect_timeout=0.2)
    for i in range(20):
        with vigil.Client(url, **fast) as c:
            assert c.add("alerts", DISK).store == "file"
            c.wake_probe()
            time.sleep(i % 3 / 1000)
        c2 = vigil.Client(url, **fast)
        assert c2.pending == i + 1, "the journal kept every write"
        c2.close()

    async def rounds():
        for i in range(10):
            c = vigil.aio.Client(url, **fast)
            c.wake_probe()
            await asyncio.sleep(i % 3 / 1000)
            await (c.aclose() if i % 2 else c.__aexit__(None, None, None))
            assert c.closed
            async with vigil.aio.Client(url, **fast):
                pass
        # aclose() of a closed client is done at once.
        await c.aclose()

    asyncio.run(rounds())


def test_repr_hides_credentials():
    c = vigil.Client("redis://user:secret@127.0.0.1:1/0")
    assert "secret" not in repr(c) and "redis://***@127.0.0.1:1/0" in repr(c)


def test_stream_settings_include_autoresolve_and_id_memory(client):
    client.create("alerts", autoresolve_ms=60_000, id_memory_ms=3_600_000)
    info = client.info("alerts")
    assert (info.autoresolve, info.id_memory) == (60_000, 3_600_000)
    assert (info.autoresolved, info.remembered_ids) == (0, 0)
    client.alter("alerts", autoresolve_ms=0, id_memory_ms=7_200_000)
    info = client.info("alerts")
    assert (info.autoresolve, info.id_memory) == (0, 7_200_000)
