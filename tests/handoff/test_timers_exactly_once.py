"""Two service processes over one real redis-server, one SIGKILLed between claim and
action, another paused past its lease: each of 1,000 timers fires exactly once (handoff/clocks/drill.py).

The processes are real OS processes (``python -m handoff.clocks.drill run``). Process A kills itself right after
its 2nd claim; process B sleeps three leases after its 1st claim (a paused process) and then completes that batch;
A', started when A is dead, takes over A's and B's leased timers once their 2 s leases lapse. B's late completions
must write nothing: without the lease check in the completion they would record those timers a second time.
"""
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import List

import redis

ROOT = Path(__file__).resolve().parents[2]
TIMERS = 1000
LEASE = 2.0


def drill(url: str, prefix: str, *args: str) -> List[str]:
    return [sys.executable, "-m", "handoff.clocks.drill", *args, "--redis-url", url, "--prefix", prefix]


def start(url: str, prefix: str, *faults: str) -> subprocess.Popen:
    return subprocess.Popen(drill(url, prefix, "run", "--lease", str(LEASE), "--batch", "50", "--log",
                                  "--until-empty", *faults),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def summary(proc: subprocess.Popen, timeout: float = 90.0) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_a_thousand_timers_fire_exactly_once_with_a_process_killed_and_one_paused_between_claim_and_action(
        redis_server):
    prefix = f"{{drill{uuid.uuid4().hex[:8]}}}:"
    made = subprocess.run(drill(redis_server, prefix, "schedule", "--timers", str(TIMERS), "--spread", "2"),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    killed = start(redis_server, prefix, "--kill-after-claims", "2")
    paused = start(redis_server, prefix, "--stall-after-claims", "1", "--stall-seconds", str(3 * LEASE))
    try:
        _, err = killed.communicate(timeout=60)
        assert killed.returncode == -9 and "SIGKILL after claim 2" in err   # killed between claim and action
        restarted = start(redis_server, prefix)
        after = summary(restarted)
        late = summary(paused)
    finally:
        for p in (killed, paused):
            if p.poll() is None:
                p.kill()
    check = json.loads(subprocess.run(drill(redis_server, prefix, "check"), cwd=ROOT, capture_output=True,
                                      text=True, timeout=60).stdout)
    assert (check["fired"], check["distinct"], check["duplicates"], check["left"]) == (TIMERS, TIMERS, 0, 0)
    assert late["lost"] == late["stalled"] > 0     # B's stalled batch was taken over meanwhile: it wrote nothing
    assert after["completed"] + late["completed"] <= TIMERS and check["taken_over"] >= 100   # A's and B's batches
    r = redis.Redis.from_url(redis_server, decode_responses=True)
    keys = [f"drill:t:{i:06d}" for i in range(TIMERS)]
    assert all(r.llen(f"{prefix}clog:drill:{k}") == 1 for k in keys)        # one clock-log entry each, too
    assert r.zcard(f"{prefix}timers") == r.zcard(f"{prefix}timers:leased") == 0
    assert not list(r.scan_iter(f"{prefix}timer:*", count=1000))
