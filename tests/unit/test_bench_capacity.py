"""The capacity benchmark's verdicts: what makes a step pass or fail, and how messages are classed.

The client is checked against a real local HTTP server (aiohttp), answering the ways a Rasa REST channel can.
"""
from __future__ import annotations

import asyncio
import socket

import aiohttp
from aiohttp import web

from bench.capacity import Step, bisect, judge, levels, served
from bench.client import EMPTY, ERROR, OK, Tally, send


def tally(*samples: tuple) -> Tally:
    return Tally([(float(i), ms, outcome) for i, (ms, outcome) in enumerate(samples)])


def test_a_step_of_fast_answers_passes():
    step = judge(10, tally(*[(100.0, OK)] * 40), [], 20.0, 500.0)
    assert step.passed and step.p95_ms == 100.0 and step.messages == 40


def test_requests_still_unanswered_at_the_end_of_a_step_count_with_their_age():
    # 40 fast answers and 5 requests waiting for 3 s: the p95 is theirs, the step fails
    step = judge(10, tally(*[(100.0, OK)] * 40), [3000.0] * 5, 20.0, 500.0)
    assert not step.passed and step.p95_ms == 3000.0 and step.waiting == 5 and step.messages == 45


def test_one_error_fails_a_step_whatever_the_latency():
    step = judge(10, tally(*[(50.0, OK)] * 99, (5.0, ERROR)), [], 20.0, 500.0)
    assert not step.passed and step.errors == 1


def test_an_empty_reply_is_an_answer_not_an_error():
    step = judge(10, tally((50.0, OK), (40.0, EMPTY)), [], 20.0, 500.0)
    assert step.passed and step.empty == 1 and step.errors == 0


def test_a_step_with_no_message_does_not_pass():
    assert not judge(10, Tally(), [], 20.0, 500.0).passed


def test_levels_grow_and_stop_at_the_maximum():
    assert levels(10, 1.5, 60) == [10, 15, 23, 35, 53, 60]
    assert levels(1, 1.1, 4) == [1, 2, 3, 4]


def test_served_is_the_last_passing_level_and_the_first_failing_one():
    def step(n: int, ok: bool) -> Step:
        return Step(n, 1, 1.0, 1.0, 1.0, 0, 0, 0, ok)

    assert served([step(10, True), step(15, True), step(23, False)]) == (15, 23)
    assert served([step(10, False)]) == (0, 10)
    assert served([step(10, True)]) == (10, None)


def test_refining_halves_the_interval_between_the_last_pass_and_the_first_failure():
    def step(n: int, ok: bool) -> Step:
        return Step(n, 1, 1.0, 1.0, 1.0, 0, 0, 0, ok)

    ramp = [step(53, True), step(80, True), step(120, False)]
    assert bisect(ramp) == 100
    assert bisect(ramp + [step(100, False)]) == 90  # served stays 80, failing becomes 100
    assert bisect(ramp + [step(100, True)]) == 110
    assert bisect([step(10, True), step(11, False)]) is None  # nothing between them
    assert bisect([step(10, True)]) is None  # never failed: nothing to refine


def test_the_client_classes_replies_empty_replies_and_failures():
    async def scenario() -> list:
        async def webhook(request: web.Request) -> web.Response:
            text = (await request.json())["message"]
            if text == "boom":
                return web.Response(status=500, text="error")
            return web.json_response([] if text == "10234568" else [{"text": "hello"}])

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        t = Tally()
        url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
        try:
            async with aiohttp.ClientSession() as session:
                out = [await send(session, url, "s", m, t) for m in ("hi", "10234568", "boom")]
                out.append(await send(session, f"http://127.0.0.1:{closed}/webhooks/rest/webhook", "s", "hi", t))
        finally:
            await runner.cleanup()
        assert [o for _, _, o in t.samples] == out
        return out

    assert asyncio.run(scenario()) == [OK, EMPTY, ERROR, ERROR]
