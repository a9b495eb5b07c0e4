"""The HAProxy configuration (bot/load_balancer.py) with Debian's real HAProxy in front of two small
python-socketio servers (a second each to start, where a Rasa server takes a minute): socket.io long-polling
sessions stay on the server that made them, REST-like requests go to both, a dead server is routed around."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, List

import pytest
import requests
import socketio

from bot.load_balancer import (LoadBalancerError, check_config, find_haproxy, haproxy_config, parse_stat,
                               server_states, server_stats)
from bot.settings import Settings
from bot.supervisor import Stack
from tests.conftest import free_port

SERVER = """
import sys
import socketio
from aiohttp import web
name, port = sys.argv[1], int(sys.argv[2])
sio = socketio.AsyncServer(async_mode="aiohttp")
app = web.Application()
sio.attach(app)
async def root(_):
    return web.Response(text="hello from " + name)
app.router.add_get("/", root)
@sio.on("whoami")
async def whoami(sid, data):
    return name
web.run_app(app, host="127.0.0.1", port=port, print=None)
"""


class Farm:
    def __init__(self, tmp: Path) -> None:
        binary = find_haproxy()
        if binary is None:
            pytest.fail("HAProxy is not installed: ./run test installs Debian's haproxy")
        self.port = free_port()
        self.socket = tmp / "haproxy.sock"
        self.servers = {"rasa-1": free_port(), "rasa-2": free_port()}
        self.procs = {name: subprocess.Popen([sys.executable, "-c", SERVER, name, str(port)])
                      for name, port in self.servers.items()}
        config = tmp / "haproxy.cfg"
        config.write_text(haproxy_config("127.0.0.1", self.port, list(self.servers.items()), self.socket))
        check_config(binary, config)
        self.haproxy = subprocess.Popen([binary, "-db", "-f", str(config)], stderr=subprocess.DEVNULL)
        self.wait(lambda: server_states(self.socket) == {"rasa-1": "UP", "rasa-2": "UP"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def wait(ready, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert time.monotonic() < deadline, "not ready in time"
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in [self.haproxy, *self.procs.values()]:
            proc.kill()  # aiohttp waits for open long-polls on SIGTERM
            proc.wait(timeout=10)


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    f = Farm(tmp_path)
    yield f
    f.stop()


async def polling_sessions(url: str, count: int, calls: int = 5) -> List[object]:
    """`count` socket.io clients over long-polling only, each asking `calls` times which server it talks to."""
    async def one() -> List[str]:
        client = socketio.AsyncClient()
        await client.connect(url, transports=["polling"])
        try:
            return [await client.call("whoami", 1, timeout=10) for _ in range(calls)]
        finally:
            await client.disconnect()

    return await asyncio.gather(*[one() for _ in range(count)], return_exceptions=True)


def test_long_polling_sessions_stay_on_the_server_that_made_them(farm: Farm):
    # Each session is several requests (handshake, namespace connect, polls, posts); leastconn alone sends
    # them to both servers and about half the sessions fail with "Invalid session".
    results = asyncio.run(polling_sessions(farm.url, 20))
    assert all(isinstance(r, list) and len(set(r)) == 1 for r in results), results
    per_server = Counter(r[0] for r in results)  # type: ignore[index]
    assert set(per_server) == {"rasa-1", "rasa-2"}, per_server  # and the sessions were spread over both


def test_plain_requests_go_to_both_servers_and_a_dead_server_is_routed_around(farm: Farm):
    answers = Counter(requests.get(farm.url + "/", timeout=5).text for _ in range(20))
    assert answers.keys() == {"hello from rasa-1", "hello from rasa-2"}
    farm.procs["rasa-1"].kill()
    farm.procs["rasa-1"].wait()
    # at once, before a health check has noticed: refused connections are retried on the other server
    answers = Counter(requests.get(farm.url + "/", timeout=5).text for _ in range(20))
    assert answers == {"hello from rasa-2": 20}
    farm.wait(lambda: server_states(farm.socket).get("rasa-1") == "DOWN", timeout=10)
    assert int(server_stats(farm.socket)["rasa-2"]["stot"]) >= 30
    assert asyncio.run(polling_sessions(farm.url, 4, calls=2)) == [["rasa-2", "rasa-2"]] * 4


def test_a_configuration_haproxy_refuses_is_an_error_before_anything_listens(tmp_path: Path):
    bad = tmp_path / "bad.cfg"
    bad.write_text(haproxy_config("127.0.0.1", free_port(), [("rasa-1", free_port())], tmp_path / "s.sock")
                   .replace("balance leastconn", "balance nonsense"))
    with pytest.raises(LoadBalancerError, match="balance only supports") as refused:
        check_config(find_haproxy() or "haproxy", bad)
    assert "NOTICE" not in str(refused.value) and "bad.cfg:27" in str(refused.value)


def test_listening_on_every_interface_and_the_stat_parser():
    assert "bind 0.0.0.0:5005" in haproxy_config("0.0.0.0", 5005, [("rasa-1", 4001)], Path("/tmp/s"))
    assert "bind :::5005" in haproxy_config("::", 5005, [("rasa-1", 4001)], Path("/tmp/s"))
    csv = ("# pxname,svname,status,stot,\nrasa,FRONTEND,OPEN,9,\nrasa_servers,rasa-1,UP,5,\n"
           "rasa_servers,rasa-2,DOWN 1/2,4,\nrasa_servers,BACKEND,UP,9,\n")
    assert {k: v["status"] for k, v in parse_stat(csv).items()} == {"rasa-1": "UP", "rasa-2": "DOWN 1/2"}


def test_without_haproxy_the_run_command_starts_one_server_and_says_why(monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setattr("bot.supervisor.find_haproxy", lambda: None)
    stack = Stack(Settings.from_env({"RASA_SERVERS": "3", "BOT_RUN_DIR": str(tmp_path)}))
    assert stack.rasa_server_count() == 1
    warning = capsys.readouterr().err
    assert "RASA_SERVERS=3" in warning and "HAProxy is not installed" in warning and "ONE Rasa server" in warning
    assert "apt-get install haproxy" in warning
