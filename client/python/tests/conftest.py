"""The harness: a real redis-server with the module per test, on a free loopback port, in the
test's own temporary directory, stopped by its pid; and a small RESP client of its own, so that
what Redis holds is checked without going through vigil.

The module is ``$VIGIL_MODULE``, else ``<repo>/target/release/libvigil.so`` (``make build``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest

import vigil

REPO = Path(__file__).resolve().parents[3]
MODULE = Path(os.environ.get("VIGIL_MODULE", REPO / "target" / "release" / "libvigil.so"))


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(cluster: bool = False) -> int:
    """A free loopback port; for a cluster node also its bus port (+10000), so at most
    55535."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster or (port <= 55535 and _bindable(port + 10000)):
            return port


class RespError(Exception):
    pass


def _read_reply(f) -> Any:
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RespError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ValueError(f"unexpected reply {line!r}")


def resp(port: int, *args: Any, timeout: float = 5.0) -> Any:
    """One command over a new connection (RESP2)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        parts = [str(a).encode() for a in args]
        s.sendall(
            b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        )
        return _read_reply(s.makefile("rb"))


class Server:
    """A redis-server with the module, AOF fsync'ed on every write (a SIGKILL loses nothing),
    that can be stopped and started again on the same port and directory."""

    def __init__(self, directory: Path, port: Optional[int] = None, cluster: bool = False) -> None:
        self.dir = directory
        self.port = port or free_port(cluster)
        self.cluster = cluster
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/"

    def start(self) -> "Server":
        assert MODULE.exists(), f"{MODULE} is missing: run `make build` (cargo build --release)"
        self.dir.mkdir(parents=True, exist_ok=True)
        cluster = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--daemonize", "no",
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--logfile", str(self.dir / "redis.log"),
                "--loadmodule", str(MODULE),
            ]
            + (cluster if self.cluster else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if resp(self.port, "PING", timeout=1) == "PONG" and self._cluster_ok():
                    return self
            except (OSError, RespError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server did not start on {self.port}:\n{log}")
            time.sleep(0.02)

    def _cluster_ok(self) -> bool:
        """A single-node cluster: this node takes every slot, then waits for state ok."""
        if not self.cluster:
            return True
        if "cluster_slots_assigned:0" in self.cmd("CLUSTER", "INFO"):
            self.cmd("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        return "cluster_state:ok" in self.cmd("CLUSTER", "INFO")

    def stop(self) -> None:
        """SIGKILL, by pid: the server goes away without a word, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the server holds its connections and answers nothing (a hung server)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def cmd(self, *args: Any) -> Any:
        return resp(self.port, *args)

    def alerts(self, key: str) -> List[dict]:
        """ALERT.RANGE key - +, each alert's JSON parsed."""
        return [json.loads(a) for a in self.cmd("ALERT.RANGE", key, "-", "+")]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "redis").start()
    try:
        yield s
    finally:
        if s.proc is not None:
            s.resume()
        s.stop()


@pytest.fixture
def cluster_node(tmp_path: Path) -> Iterator[Server]:
    """A single-node Redis Cluster holding every slot."""
    s = Server(tmp_path / "cluster", cluster=True).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    return tmp_path / "journal"


def reopen(url: str, journal: Path, what: str = "the journal directory") -> None:
    """Opens (and closes) a client on `journal` at once: a closed client has let go of it."""
    try:
        vigil.Client(url, journal_dir=journal).close()
    except vigil.ConfigError as e:
        raise AssertionError(f"{what} stayed locked after close(): {e}") from None


@pytest.fixture
def client(server: Server, journal_dir: Path) -> Iterator[vigil.Client]:
    c = vigil.Client(
        server.url, journal_dir=journal_dir, command_timeout=0.5, probe_interval=0.05
    )
    try:
        yield c
    finally:
        c.close()
