"""examples/alert_storage.py does what its docstring says: with the server down it stores in the
journal and exits; the next run, with the server up, replays that journal first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "alert_storage.py"


def run(server, journal_dir) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), server.url, "--journal", str(journal_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_alert_storage_example_across_an_outage(server, journal_dir):
    server.stop()
    down = run(server, journal_dir)
    assert "store:   disk_full        -> new (file)" in down
    assert "store:   disk_full again  -> not new (file)" in down
    assert "recent:  2 alert(s) of this run" in down and "count=2 active" in down
    assert "(status acked)" in down
    assert "storage_mode=file" in down and "pending=4" in down

    server.start()
    up = run(server, journal_dir)
    assert "replay:  4 write(s) an earlier run left in the journal are in Redis now" in up
    assert "store:   disk_full        -> new (redis)" in up
    assert "storage_mode=redis" in up and "pending=0" in up and "total_alerts=4" in up
    stored = server.alerts("alerts:example")
    assert sorted((a["type"], a["count"], a["status"]) for a in stored) == [
        ("disk_full", 2, "acked"),
        ("disk_full", 2, "acked"),
        ("slow_request", 1, "active"),
        ("slow_request", 1, "active"),
    ]
