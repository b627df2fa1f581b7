#!/usr/bin/env python3
"""Vigil from Python with plain redis-py (synchronous).

What services used to do by hand with GET/compare/INCRBYFLOAT, sorted sets and Lua, in one
command each:

  1. store an alert with dedup: the same alert twice is stored once (the second answers
     "duplicate" and counts 2);
  2. read the last hour's critical alerts (ALERT.RANGE from a ms timestamp, MINSEVERITY);
  3. acknowledge one (ALERT.ACK);
  4. check-and-increment a tenant's storage quota (QUOTA.INCR ... LIMIT): allowed, then refused;
  5. track the tenant's keys and evict the least recently used ones, lowering the quota in the
     same step (LRU.TOUCH, then LRU.EVICT ... QUOTA), after which the refused amount fits.

Usage: python3 vigil_example.py [redis://host:port/db]   (or env VIGIL_REDIS_URL; default
redis://127.0.0.1:6379/0). Exits non-zero on any unexpected reply. Its keys carry a random
tenant name, and are deleted at the end.
"""

import json
import os
import sys
import time
import uuid

import redis


def check(condition, what):
    """Stops with exit code 1 when a reply is not the expected one."""
    if not condition:
        sys.exit(f"unexpected reply: {what}")


def now_ms():
    return int(time.time() * 1000)


def run(r):
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    # One hash tag per tenant: in a Redis Cluster all of the tenant's keys share a slot.
    alerts = f"tenant:{{{tenant}}}:alerts"
    quota = f"tenant:{{{tenant}}}:bytes"
    tracker = f"tenant:{{{tenant}}}:lru"
    images = [f"tenant:{{{tenant}}}:img:{n}" for n in (1, 2, 3)]
    print(f"tenant {tenant}")

    # 1. Store an alert; the same alert again (same source, type and labels: same fingerprint,
    #    within the 5-minute dedup window) is folded into it.
    disk_full = {
        "severity": "critical",
        "source": "db-1",
        "type": "disk_full",
        "labels": {"mount": "/var"},
        "message": "disk 97% full",
    }
    outcome, alert_id, count = r.execute_command("ALERT.ADD", alerts, json.dumps(disk_full))
    check(outcome == "added" and count == 1, f"ALERT.ADD: {outcome} {alert_id} {count}")
    print(f"store:  added {alert_id}")

    outcome, same_id, count = r.execute_command("ALERT.ADD", alerts, json.dumps(disk_full))
    check(outcome == "duplicate" and same_id == alert_id and count == 2,
          f"second ALERT.ADD: {outcome} {same_id} {count}")
    print(f"store:  duplicate of {same_id} (count {count})")

    slow = {"severity": "low", "source": "web-3", "type": "slow_request"}
    outcome, low_id, _ = r.execute_command("ALERT.ADD", alerts, json.dumps(slow))
    check(outcome == "added", f"ALERT.ADD low: {outcome}")
    print(f"store:  added {low_id} (low)")

    # 2. The last hour's critical alerts: start is a ms timestamp, end "+" the newest.
    since = now_ms() - 3_600_000
    found = [json.loads(a) for a in
             r.execute_command("ALERT.RANGE", alerts, since, "+", "MINSEVERITY", "critical")]
    check([a["id"] for a in found] == [alert_id], f"ALERT.RANGE: {found}")
    first = found[0]
    check(first["count"] == 2 and first["status"] == "active", f"ALERT.RANGE: {first}")
    print(f"range:  {len(found)} critical alert(s) in the last hour: "
          f"{first['id']} {first['type']} count={first['count']} status={first['status']}")

    # 3. Acknowledge it: it stays a dedup target, with status "acked".
    changed = r.execute_command("ALERT.ACK", alerts, alert_id)
    check(changed == 1, f"ALERT.ACK: {changed}")
    (doc,) = r.execute_command("ALERT.GET", alerts, alert_id)
    status = json.loads(doc)["status"]
    check(status == "acked", f"ALERT.GET after ACK: {doc}")
    print(f"ack:    {alert_id} acknowledged (status {status})")

    # 4. Check-and-increment the tenant's storage quota as files are stored. The reply is
    #    [allowed, usage, limit, remaining, reset_ms]; amounts are strings (exact decimals).
    def store(key, size):
        allowed, usage, limit, remaining, _ = r.execute_command(
            "QUOTA.INCR", quota, size, "LIMIT", 1000)
        if allowed == 1:
            r.set(key, "x" * size)
            r.execute_command("LRU.TOUCH", tracker, key, size)
        return allowed, usage, limit, remaining

    allowed, usage, limit, _ = store(images[0], 300)
    check((allowed, usage, limit) == (1, "300", "1000"), f"QUOTA.INCR 300: {allowed} {usage}")
    print(f"quota:  +300 allowed, usage {usage}/{limit}")
    allowed, usage, limit, remaining = store(images[1], 100)
    check((allowed, usage, remaining) == (1, "400", "600"), f"QUOTA.INCR 100: {allowed} {usage}")
    print(f"quota:  +100 allowed, usage {usage}/{limit}, {remaining} left")
    allowed, usage, limit, _ = store(images[2], 700)
    check((allowed, usage) == (0, "400"), f"QUOTA.INCR 700: {allowed} {usage}")
    print(f"quota:  +700 refused, usage stays {usage}/{limit}")

    # 5. Make room: img:2 was used again, so img:1 is the least recently used. Evict until the
    #    tenant's tracked total is at most 1000 - 700; the quota drops by what was freed.
    r.execute_command("LRU.TOUCH", tracker, images[1], 100)
    evicted, freed, total, keys = r.execute_command(
        "LRU.EVICT", tracker, 1000 - 700, "QUOTA", quota)
    check((evicted, freed, total, keys) == (1, "300", "100", [images[0]]),
          f"LRU.EVICT: {evicted} {freed} {total} {keys}")
    check(r.exists(images[0]) == 0, "the evicted key still exists")
    _, usage, _, _, _ = r.execute_command("QUOTA.GET", quota)
    check(usage == "100", f"QUOTA.GET after LRU.EVICT: {usage}")
    print(f"evict:  evicted {', '.join(keys)}, freed {freed}, quota usage now {usage}")

    allowed, usage, limit, _ = store(images[2], 700)
    check((allowed, usage) == (1, "800"), f"QUOTA.INCR 700 after eviction: {allowed} {usage}")
    print(f"quota:  +700 allowed after eviction, usage {usage}/{limit}")

    r.delete(alerts, quota, tracker, *images)
    print("ok")


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "VIGIL_REDIS_URL", "redis://127.0.0.1:6379/0")
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        run(r)
    except redis.exceptions.ResponseError as e:
        sys.exit(f"unexpected error reply: {e} (is the vigil module loaded in {url}?)")
    except redis.exceptions.ConnectionError as e:
        sys.exit(f"cannot reach {url}: {e}")
    finally:
        r.close()


if __name__ == "__main__":
    main()
