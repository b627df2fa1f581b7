"""The package in the life of a process: an interpreter that exits right after asyncio calls
exits cleanly, and a process forked from one that used a client can use clients of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import vigil

EXIT_AFTER_ASYNCIO = """
import asyncio, sys
import vigil.aio

async def main():
    async with vigil.aio.Client(sys.argv[1], journal_dir=sys.argv[2]) as c:
        await asyncio.gather(*(c.add("alerts", {"source": f"s{i}"}) for i in range(5)))

asyncio.run(main())
"""


def test_an_interpreter_exits_cleanly_right_after_asyncio_calls(server, tmp_path):
    # A runtime thread that delivered a result could still be finishing its call into Python
    # when the interpreter finalized: Python 3.11 ends such a thread with pthread_exit, which
    # aborted the process (SIGABRT) in about one exit in ten.
    script = tmp_path / "exit.py"
    script.write_text(EXIT_AFTER_ASYNCIO)
    for i in range(60):
        run = subprocess.run(
            [sys.executable, str(script), server.url, str(tmp_path / f"j{i}")],
            capture_output=True,
            timeout=60,
        )
        assert run.returncode == 0, (i, run.returncode, run.stderr.decode()[-2000:])


def test_a_forked_child_uses_clients_of_its_own(server, journal_dir):
    parent = vigil.Client(server.url, journal_dir=journal_dir)
    assert parent.add("alerts", {"source": "parent"}).outcome == "added"
    parent.close()
    code = textwrap.dedent(
        """
        import os, sys, vigil
        pid = os.fork()
        if pid == 0:
            try:
                c = vigil.Client(sys.argv[1], journal_dir=sys.argv[2], command_timeout=2.0)
                ok = c.add("alerts", {"source": "child"}).outcome == "added"
                c.close()
                os._exit(0 if ok else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    # The parent of the fork used a client first, as the test's own process did.
    prelude = (
        "import sys, vigil\n"
        "c = vigil.Client(sys.argv[1], journal_dir=sys.argv[2] + '-p')\n"
        "c.add('alerts', {'source': 'before'})\n"
        "c.close()\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", prelude + code, server.url, str(journal_dir) + "-c"],
        capture_output=True,
        timeout=20,
    )
    assert run.returncode == 0, (run.returncode, run.stderr.decode()[-2000:])


FORKED_IDS = """
import os, sys, vigil
url, journal = sys.argv[1], sys.argv[2]
c = vigil.Client(url, journal_dir=journal + "-parent")
c.add("ids", {"source": "parent"}, ts=1700000000000)
c.close()
children = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        c = vigil.Client(url, journal_dir=f"{journal}-{i}")
        r = c.add("ids", {"source": f"child-{i}"}, ts=1700000000001)
        c.close()
        os._exit(0 if r.outcome == "added" else 3)
    children.append(pid)
sys.exit(max(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in children))
"""


def test_forked_children_draw_ids_of_their_own(server, journal_dir):
    # Each alert's ID has a random part. Children forked from a process that had drawn one
    # inherited its generator: alerts of the same millisecond got the same ID, and all but the
    # first were answered `exists` and lost.
    server.cmd("ALERT.CREATE", "ids", "RETENTION", "0")
    run = subprocess.run(
        [sys.executable, "-c", FORKED_IDS, server.url, str(journal_dir)],
        capture_output=True,
        timeout=20,
    )
    assert run.returncode == 0, (run.returncode, run.stderr.decode()[-2000:])
    sources = sorted(a["source"] for a in server.alerts("ids"))
    assert sources == ["child-0", "child-1", "child-2", "child-3", "parent"]
