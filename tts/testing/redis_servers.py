"""Real, throwaway redis-server processes for tests and benchmarks.

``RedisServer`` runs one on a free loopback port with no persistence and its own
directory, and can stop/start it on the same port, kill it, or freeze it (SIGSTOP)
to act like a hung server. ``SentinelSet`` is a master, a replica and three
sentinels watching them; ``RedisClusterSet`` a three-node cluster made with
``redis-cli --cluster create``, optionally with a replica per master.
The pytest fixtures around them live in tests/redis_fixture.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import redis

from tts.testing.ports import free_port

_START_TIMEOUT_S = 10.0


class RedisServer:
    """One redis-server process on 127.0.0.1:<port>, restartable on the same port."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        port: int | None = None,
        *,
        extra_args: Sequence[str] = (),
        config_file: Path | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        # Sentinel mode needs a config file it can rewrite, named before any option.
        self.extra_args = tuple(extra_args)
        self.config_file = config_file
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False

    def client(self, timeout_s: float = 2.0) -> redis.Redis:
        """A plain client for test set-up and assertions (not the code under test)."""
        return redis.Redis.from_url(
            self.url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart, same port) and wait until it answers PING."""
        if self.running:
            return
        head = [self.binary] if self.config_file is None else [self.binary, str(self.config_file)]
        self._proc = subprocess.Popen(
            [
                *head,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                "--logfile", str(self.workdir / "redis.log"),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._paused = False
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if self._proc.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}:\n{log}")
            try:
                with self.client(timeout_s=0.5) as probe:
                    if probe.ping():
                        return
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                pass  # not up yet, or a busy machine answered late: ask again
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate it and wait; the port is free for ``start`` afterwards."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if self._paused:
                os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._proc = None
        self._paused = False

    def kill(self) -> None:
        """SIGKILL, as a crashed host would: no shutdown, no goodbye to replicas."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        self._proc = None
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel, nothing answers."""
        if self._proc is not None and not self._paused:
            os.kill(self._proc.pid, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self._proc is not None and self._paused:
            os.kill(self._proc.pid, signal.SIGCONT)
            self._paused = False

    def ensure_ready(self) -> None:
        """Running, not paused."""
        self.resume()
        self.start()

    def flush(self) -> None:
        with self.client() as c:
            c.flushall()



# -- Sentinel and Cluster ------------------------------------------------------------

SERVICE = "tts"
# Short enough that a failover takes about a second and a half, long enough that a busy
# two-core machine does not see a healthy master as down.
DOWN_AFTER_MS = 400
FAILOVER_TIMEOUT_MS = 3000
CLUSTER_NODE_TIMEOUT_MS = 500


def _wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` (errors count as "not yet") until true or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except redis.exceptions.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


# Set-up and assertion calls get a generous timeout: the machine may be busy, and
# these are not the code under test.
_SETUP_TIMEOUT_S = 10.0


def _info(server: RedisServer, section: str) -> dict[str, object]:
    with server.client(timeout_s=_SETUP_TIMEOUT_S) as c:
        return dict(c.info(section))


class SentinelSet:
    """A master, one replica and three sentinels (quorum 2) that call them ``tts``."""

    def __init__(self, binary: str, workdir: Path) -> None:
        replica_options = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        self.master = RedisServer(binary, _subdir(workdir, "master"), extra_args=replica_options)
        self.replica = RedisServer(
            binary, _subdir(workdir, "replica"),
            extra_args=[*replica_options, "--replicaof", "127.0.0.1", str(self.master.port)],
        )
        self.sentinels: list[RedisServer] = []
        for i in range(3):
            home = _subdir(workdir, f"sentinel{i}")
            conf = home / "sentinel.conf"
            conf.write_text(
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.sentinels.append(
                RedisServer(binary, home, config_file=conf, extra_args=["--sentinel"])
            )
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        self.url = f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> None:
        """Start everything and wait until a failover could happen: the replica in sync
        and every sentinel knowing the replica and both other sentinels."""
        self.master.start()
        self.replica.start()
        _wait_until(lambda: _info(self.replica, "replication").get("master_link_status") == "up",
                    10, "the replica to sync")
        for sentinel in self.sentinels:
            sentinel.start()
        for sentinel in self.sentinels:
            _wait_until(partial(self._sentinel_ready, sentinel), 15,
                        f"sentinel :{sentinel.port} to see its peers and the replica")

    @staticmethod
    def _sentinel_ready(sentinel: RedisServer) -> bool:
        with sentinel.client(timeout_s=_SETUP_TIMEOUT_S) as c:
            master = c.sentinel_master(SERVICE)
            return int(master["num-other-sentinels"]) == 2 and int(master["num-slaves"]) == 1

    def wait_replicated(self, timeout_ms: int = 5000) -> int:
        """WAIT until the replica acknowledged every write so far; how many did."""
        with self.master.client(timeout_s=_SETUP_TIMEOUT_S) as c:
            return int(c.execute_command("WAIT", 1, timeout_ms))

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers reports it."""
        for sentinel in self.sentinels:
            try:
                with sentinel.client(timeout_s=0.5) as c:
                    address = c.sentinel_get_master_addr_by_name(SERVICE)
                    return int(address[1])
            except redis.exceptions.ConnectionError:
                continue
        raise RuntimeError("no sentinel answered")

    def wait_promoted(self, timeout_s: float = 15.0) -> None:
        """Until the sentinels name the replica and it has taken the master role."""
        _wait_until(
            lambda: self.master_port() == self.replica.port
            and _info(self.replica, "replication").get("role") == "master",
            timeout_s, "the replica's promotion",
        )

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.master):
            server.stop()


class RedisClusterSet:
    """Three masters, each with ``replicas`` replicas, slots split by
    ``redis-cli --cluster create``.

    ``cluster-require-full-coverage no`` keeps the survivors serving their own slots
    when a shard is lost, the setting a cache cluster should run with.
    """

    def __init__(self, binary: str, cli: str, workdir: Path, replicas: int = 0) -> None:
        self.cli = cli
        self.replicas = replicas
        self.nodes = [
            RedisServer(
                binary, _subdir(workdir, f"node{i}"), port=_free_cluster_port(),
                extra_args=[
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS),
                    "--cluster-require-full-coverage", "no",
                ],
            )
            for i in range(3 * (1 + replicas))
        ]
        # The masters (the first three, as --cluster create assigns them) are the seeds.
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3])

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [self.cli, "--cluster", "create",
             *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30,
        )
        for node in self.nodes:
            _wait_until(partial(_cluster_ok, node), 15,
                        f"cluster node :{node.port} to report cluster_state:ok")
        for node in self.nodes:
            _wait_until(partial(_in_sync, node), 15, f"cluster node :{node.port} to sync")

    def wait_replicated(self, timeout_ms: int = 5000) -> None:
        """WAIT on every master until its replicas acknowledged every write so far."""
        for node in self.nodes:
            if node.running and _info(node, "replication").get("role") == "master":
                with node.client(timeout_s=_SETUP_TIMEOUT_S) as c:
                    acked = int(c.execute_command("WAIT", self.replicas, timeout_ms))
                if acked < self.replicas:
                    raise RuntimeError(f"only {acked} replicas of :{node.port} acknowledged")

    def node_for(self, key: str) -> RedisServer:
        """The node that owns ``key``'s slot."""
        alive = next(n for n in self.nodes if n.running)
        with alive.client(timeout_s=_SETUP_TIMEOUT_S) as c:
            slot = int(c.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, (_host, port, *_rest), *_replicas in c.execute_command(
                "CLUSTER", "SLOTS"
            ):
                if int(start) <= slot <= int(end):
                    return next(n for n in self.nodes if n.port == int(port))
        raise LookupError(f"no node owns slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _cluster_ok(node: RedisServer) -> bool:
    with node.client(timeout_s=_SETUP_TIMEOUT_S) as c:
        info = c.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


def _in_sync(node: RedisServer) -> bool:
    """A master, or a replica whose link to its master is up."""
    info = _info(node, "replication")
    return info.get("role") == "master" or info.get("master_link_status") == "up"


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _subdir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    return path

