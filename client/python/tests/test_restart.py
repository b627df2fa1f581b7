"""A client process killed during an outage: its journal is replayed by the next client opened
on the same directory, and every alert it acknowledged reaches Redis exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import vigil

# Writes alerts while the server is down, printing the seq of each one acknowledged (its add
# returned: it is fsync'ed in the journal), until it is killed.
WRITER = """
import sys, vigil
client = vigil.Client(sys.argv[1], journal_dir=sys.argv[2], command_timeout=0.3,
                      connect_timeout=0.3)
seq = 0
while True:
    reply = client.add("alerts", {"severity": "high", "source": f"s{seq}", "type": "crash",
                                  "seq": seq})
    assert reply.store == "file", reply
    print(seq, flush=True)
    seq += 1
"""


def test_killed_client_is_replayed_by_the_next_one(server, journal_dir):
    server.stop()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, server.url, str(journal_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    acked = []
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 30:
            line = writer.stdout.readline()
            assert line, f"the writer stopped (exit {writer.poll()})"
            acked.append(int(line))
            assert time.monotonic() < deadline
        os.kill(writer.pid, signal.SIGKILL)  # mid-write, as it goes on writing
        writer.wait(timeout=10)
        acked += [int(line) for line in writer.stdout.read().split()]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert acked == list(range(len(acked)))

    # A new client on the same directory, the server still down: it starts in file mode with
    # the journal the killed one left, and reads answer from it.
    client = vigil.Client(
        server.url, journal_dir=journal_dir, command_timeout=0.5, probe_interval=0.05
    )
    assert client.mode == "file"
    assert client.pending >= len(acked)
    held = {a.document["seq"] for a in client.range("alerts", type="crash")}
    assert held >= set(acked)

    server.start()
    assert client.flush(10) is True
    seqs = [a["seq"] for a in server.alerts("alerts")]
    assert len(seqs) == len(set(seqs)), "no alert twice"
    # Every acknowledged alert; at most the one being written when the kill came beyond them.
    assert set(acked) <= set(seqs) <= set(acked) | {len(acked)}
    assert client.metrics().replayed == len(seqs)
    client.close()
