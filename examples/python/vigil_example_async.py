#!/usr/bin/env python3
"""Vigil from Python with plain redis-py on asyncio (redis.asyncio).

The same steps as vigil_example.py, for services written with asyncio: store an alert with
dedup, read the last hour's critical alerts, acknowledge one, check-and-increment a tenant's
quota (allowed, then refused), and evict the tenant's least recently used keys with the quota
lowered in the same step. Here several alerts are sent at once with asyncio.gather: each
ALERT.ADD is atomic on the server, so concurrent identical alerts are still stored once.

Usage: python3 vigil_example_async.py [redis://host:port/db]   (or env VIGIL_REDIS_URL; default
redis://127.0.0.1:6379/0). Exits non-zero on any unexpected reply. Its keys carry a random
tenant name, and are deleted at the end.
"""

import asyncio
import json
import os
import sys
import time
import uuid

import redis.asyncio as redis
from redis.exceptions import ConnectionError, ResponseError


def check(condition, what):
    """Stops with exit code 1 when a reply is not the expected one."""
    if not condition:
        sys.exit(f"unexpected reply: {what}")


def now_ms():
    return int(time.time() * 1000)


async def run(r):
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    # One hash tag per tenant: in a Redis Cluster all of the tenant's keys share a slot.
    alerts = f"tenant:{{{tenant}}}:alerts"
    quota = f"tenant:{{{tenant}}}:bytes"
    tracker = f"tenant:{{{tenant}}}:lru"
    images = [f"tenant:{{{tenant}}}:img:{n}" for n in (1, 2, 3)]
    print(f"tenant {tenant}")

    # 1. Five identical alerts sent concurrently: one is stored, four are folded into it.
    disk_full = json.dumps({
        "severity": "critical",
        "source": "db-1",
        "type": "disk_full",
        "labels": {"mount": "/var"},
        "message": "disk 97% full",
    })
    replies = await asyncio.gather(
        *(r.execute_command("ALERT.ADD", alerts, disk_full) for _ in range(5)))
    outcomes = sorted(outcome for outcome, _, _ in replies)
    check(outcomes == ["added"] + ["duplicate"] * 4, f"concurrent ALERT.ADD: {replies}")
    ids = {alert_id for _, alert_id, _ in replies}
    check(len(ids) == 1, f"concurrent ALERT.ADD gave several IDs: {replies}")
    alert_id = ids.pop()
    counts = sorted(count for _, _, count in replies)
    check(counts == [1, 2, 3, 4, 5], f"concurrent ALERT.ADD counts: {replies}")
    print(f"store:  added {alert_id}")
    print(f"store:  duplicate of {alert_id} (4 times, count 5)")

    slow = json.dumps({"severity": "low", "source": "web-3", "type": "slow_request"})
    outcome, low_id, _ = await r.execute_command("ALERT.ADD", alerts, slow)
    check(outcome == "added", f"ALERT.ADD low: {outcome}")
    print(f"store:  added {low_id} (low)")

    # 2. The last hour's critical alerts: start is a ms timestamp, end "+" the newest.
    since = now_ms() - 3_600_000
    found = [json.loads(a) for a in await r.execute_command(
        "ALERT.RANGE", alerts, since, "+", "MINSEVERITY", "critical")]
    check([a["id"] for a in found] == [alert_id], f"ALERT.RANGE: {found}")
    first = found[0]
    check(first["count"] == 5 and first["status"] == "active", f"ALERT.RANGE: {first}")
    print(f"range:  {len(found)} critical alert(s) in the last hour: "
          f"{first['id']} {first['type']} count={first['count']} status={first['status']}")

    # 3. Acknowledge it.
    changed = await r.execute_command("ALERT.ACK", alerts, alert_id)
    check(changed == 1, f"ALERT.ACK: {changed}")
    (doc,) = await r.execute_command("ALERT.GET", alerts, alert_id)
    status = json.loads(doc)["status"]
    check(status == "acked", f"ALERT.GET after ACK: {doc}")
    print(f"ack:    {alert_id} acknowledged (status {status})")

    # 4. Check-and-increment the tenant's storage quota as files are stored:
    #    [allowed, usage, limit, remaining, reset_ms], amounts as exact decimal strings.
    async def store(key, size):
        allowed, usage, limit, remaining, _ = await r.execute_command(
            "QUOTA.INCR", quota, size, "LIMIT", 1000)
        if allowed == 1:
            await r.set(key, "x" * size)
            await r.execute_command("LRU.TOUCH", tracker, key, size)
        return allowed, usage, limit, remaining

    allowed, usage, limit, _ = await store(images[0], 300)
    check((allowed, usage, limit) == (1, "300", "1000"), f"QUOTA.INCR 300: {allowed} {usage}")
    print(f"quota:  +300 allowed, usage {usage}/{limit}")
    allowed, usage, limit, remaining = await store(images[1], 100)
    check((allowed, usage, remaining) == (1, "400", "600"), f"QUOTA.INCR 100: {allowed} {usage}")
    print(f"quota:  +100 allowed, usage {usage}/{limit}, {remaining} left")
    allowed, usage, limit, _ = await store(images[2], 700)
    check((allowed, usage) == (0, "400"), f"QUOTA.INCR 700: {allowed} {usage}")
    print(f"quota:  +700 refused, usage stays {usage}/{limit}")

    # 5. Make room: img:1 is the least recently used. Evict until the tracked total is at most
    #    1000 - 700; the quota drops by what was freed, in the same step.
    await r.execute_command("LRU.TOUCH", tracker, images[1], 100)
    evicted, freed, total, keys = await r.execute_command(
        "LRU.EVICT", tracker, 1000 - 700, "QUOTA", quota)
    check((evicted, freed, total, keys) == (1, "300", "100", [images[0]]),
          f"LRU.EVICT: {evicted} {freed} {total} {keys}")
    check(await r.exists(images[0]) == 0, "the evicted key still exists")
    _, usage, _, _, _ = await r.execute_command("QUOTA.GET", quota)
    check(usage == "100", f"QUOTA.GET after LRU.EVICT: {usage}")
    print(f"evict:  evicted {', '.join(keys)}, freed {freed}, quota usage now {usage}")

    allowed, usage, limit, _ = await store(images[2], 700)
    check((allowed, usage) == (1, "800"), f"QUOTA.INCR 700 after eviction: {allowed} {usage}")
    print(f"quota:  +700 allowed after eviction, usage {usage}/{limit}")

    await r.delete(alerts, quota, tracker, *images)
    print("ok")


async def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "VIGIL_REDIS_URL", "redis://127.0.0.1:6379/0")
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        await run(r)
    except ResponseError as e:
        sys.exit(f"unexpected error reply: {e} (is the vigil module loaded in {url}?)")
    except ConnectionError as e:
        sys.exit(f"cannot reach {url}: {e}")
    finally:
        # aclose() since redis-py 5.0.1; close() before it.
        await (r.aclose() if hasattr(r, "aclose") else r.close())


if __name__ == "__main__":
    asyncio.run(main())
