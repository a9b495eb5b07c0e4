# Over 400 lines: composing, the outbox and the listener share one real aiosmtpd relay and redis-server; the last test runs the loop.
"""Ticket e-mail: composing a reply's mail, the durable outbox sent through a real SMTP relay (aiosmtpd), and the
SMTP listener for customers' replies, spoken to by a real SMTP client (smtplib). Real redis-server.
"""
from __future__ import annotations

import asyncio
import json
import smtplib
import threading
import time
import uuid
from email import message_from_bytes, policy
from typing import Any, Dict, List, Optional, Tuple

import pytest
import redis as redis_lib
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller

from bot.processes import free_port
from common.config import ConfigError
from handoff.settings import Settings, SettingsError
from handoff.tickets.mail_in import InboundMail, Refused, answer_text, html_text
from handoff.tickets.mail_out import (MailError, MailSettings, MailText, compose, parse_reply_address, reply_address,
                                      token_matches)
from handoff.tickets.mail_queue import Mailer, MailOutbox, SmtpSettings
from tests.handoff.stores import loop, run  # noqa: F401  (loop: a fixture)

SECRET = "reply-secret-for-tests-0123456789"
MAIL = MailSettings(mail_from="Shop Support <support@shop.example>", domain="shop.example", secret=SECRET)
TICKET_ID = "5f0c2a9e8b7d4c3a9e8b7d4c3a2f1e0d"


def ticket(**changes: Any) -> Dict[str, Any]:
    view = {"id": TICKET_ID, "number": 10042, "label": "T-10042", "state": "pending", "subject": "Printer shows E04",
            "requester": {"customer_id": "c-1", "name": "Li Lei", "email": "li.lei@example.cn", "channel": "socketio",
                          "conversation_id": "conv-1"}}
    view.update(changes)
    return view


def reply(text: str = "Please restart the printer and tell me what it shows.", seq: int = 4) -> Dict[str, Any]:
    return {"seq": seq, "at": "2026-12-06T05:00:00Z", "kind": "reply", "by": "ann", "text": text, "public": True,
            "via": "email"}


def parsed(message: Any) -> Any:
    """The mail as a receiving client reads it (bytes on the wire, parsed again)."""
    return message_from_bytes(message.as_bytes(), policy=policy.default)


# --- composing -------------------------------------------------------------------------------------------------------

def test_the_mail_of_a_reply_has_the_ticket_in_its_subject_and_a_reply_address_that_verifies():
    mail = parsed(compose(ticket(), reply(), MAIL))
    assert mail["Subject"] == "[T-10042] Printer shows E04"
    assert mail["To"].addresses[0].addr_spec == "li.lei@example.cn"
    assert mail["From"] == "Shop Support <support@shop.example>"
    reply_to = mail["Reply-To"].addresses[0].addr_spec
    assert reply_to == reply_address(TICKET_ID, "T-10042", SECRET, "support", "shop.example")
    assert reply_to.startswith("support+T-10042.") and reply_to.endswith("@shop.example")
    label, token = parse_reply_address(reply_to, "support", "shop.example")
    assert label == "T-10042" and token_matches(SECRET, TICKET_ID, token)
    text = mail.get_body(("plain",)).get_content()
    assert "Please restart the printer and tell me what it shows." in text
    assert "\n-- \nThis is an answer to your request T-10042." in text
    assert text.startswith("## Please type your reply above this line ##")
    # The same reply composed again (the outbox sends at least once) has the same Message-ID; another one does not.
    assert compose(ticket(), reply(), MAIL)["Message-ID"] == mail["Message-ID"]
    assert compose(ticket(), reply(seq=5), MAIL)["Message-ID"] != mail["Message-ID"]


def test_a_forged_or_altered_reply_address_does_not_verify():
    good = reply_address(TICKET_ID, "T-10042", SECRET, "support", "shop.example")
    label, token = parse_reply_address(good, "support", "shop.example")
    forged = ("0" if token[0] != "0" else "1") + token[1:]
    assert not token_matches(SECRET, TICKET_ID, forged)
    assert not token_matches("another-secret-0123456789", TICKET_ID, token)
    assert not token_matches(SECRET, "another-ticket-id", token)  # T-10043's address is not T-10042's
    # Letter case changed by a mail server still parses; other shapes do not.
    assert parse_reply_address(good.upper(), "support", "shop.example") == (label, token)
    for other in ("support@shop.example", good.replace("shop.example", "evil.example"),
                  good.replace("support+", "sales+"), "support+T-10042@shop.example", "support+T-10042.xyz@shop.example"):
        assert parse_reply_address(other, "support", "shop.example") is None


def test_chinese_text_round_trips_and_a_chinese_requester_gets_the_chinese_wording():
    chinese = ticket(subject="打印机显示 E04", requester={**ticket()["requester"], "name": "李雷", "language": "zh-CN"})
    mail = parsed(compose(chinese, reply("请先重启打印机，然后告诉我屏幕上显示什么。"), MAIL))
    assert mail["Subject"] == "[T-10042] 打印机显示 E04"
    assert mail["To"].addresses[0].display_name == "李雷"
    text = mail.get_body(("plain",)).get_content()
    assert "请先重启打印机，然后告诉我屏幕上显示什么。" in text
    assert "这是对您的工单 T-10042 的答复。" in text and text.startswith("## 请在此行上方输入您的回复 ##")
    # A language the catalog does not have: the default (English) wording.
    other = ticket(requester={**ticket()["requester"], "language": "fr"})
    assert "This is an answer to your request" in parsed(compose(other, reply(), MAIL)).get_body(("plain",)).get_content()


def test_line_breaks_in_subject_or_name_cannot_inject_headers_and_bad_addresses_or_notes_are_not_mailed():
    evil = ticket(subject="Broken\r\nBcc: victim@evil.example\r\n\r\nfake body",
                  requester={**ticket()["requester"], "name": "Li\nBcc: victim@evil.example"})
    raw = compose(evil, reply(), MAIL).as_bytes()
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Bcc"] is None and b"\nBcc:" not in raw
    assert mail["Subject"] == "[T-10042] Broken Bcc: victim@evil.example fake body"
    assert [a.addr_spec for a in mail["To"].addresses] == ["li.lei@example.cn"]
    for address in ("li@example.cn\r\nBcc: victim@evil.example", "two@a.example, three@b.example",
                    "Li <li@example.cn>", "not-an-address", "", None):
        with pytest.raises(MailError):
            compose(ticket(requester={**ticket()["requester"], "email": address}), reply(), MAIL)
    with pytest.raises(MailError, match="only public replies"):
        compose(ticket(), {**reply(), "kind": "note", "public": False}, MAIL)


def test_a_bad_wording_file_is_refused_naming_the_file_and_the_place(tmp_path):
    path = tmp_path / "ticket_mail.yml"
    good = (MailText.load().languages["en"])
    document = {"version": 1, "default": "en", "languages": {"en": {**good, "footer": "Your {ticket} was answered"}}}
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"ticket_mail.yml: languages.en.footer: unknown placeholder \{ticket\}"):
        MailText.load(path)
    path.write_text("version: 1\ndefault: en\nlanguages:\n  en: [unclosed\n")
    with pytest.raises(ConfigError, match=r"ticket_mail.yml: line 5"):
        MailText.load(path)


def test_mail_settings_have_defaults_and_bad_values_are_named():
    required = {"HANDOFF_BOT_TOKEN": "b" * 16, "HANDOFF_TOKEN_SECRET": "s" * 32}
    off = Settings.from_env(required)
    assert (off.smtp_host, off.mail_in_port, off.mail_in_host, off.smtp_port) == ("", 0, "127.0.0.1", 25)
    assert len(off.mail_secret) >= 32 and off.mail_secret != off.token_secret
    on = Settings.from_env({**required, "HANDOFF_SMTP_HOST": "relay.shop.example",
                            "HANDOFF_MAIL_FROM": "Shop <help@Shop.example>", "HANDOFF_SMTP_STARTTLS": "1"})
    assert (on.mail_domain, on.mail_reply_local, on.smtp_starttls) == ("shop.example", "support", True)
    smtp = SmtpSettings.from_settings(on)
    assert (smtp.host, smtp.envelope_from, smtp.port) == ("relay.shop.example", "help@Shop.example", 25)
    for env, message in [({"HANDOFF_SMTP_HOST": "relay.shop.example"}, "HANDOFF_MAIL_FROM is not set"),
                         ({"HANDOFF_MAIL_IN_PORT": "2525"}, "HANDOFF_MAIL_FROM is not set"),
                         ({"HANDOFF_SMTP_PORT": "smtp"}, "HANDOFF_SMTP_PORT must be an integer"),
                         ({"HANDOFF_SMTP_PORT": "70000"}, "HANDOFF_SMTP_PORT must be a port number"),
                         ({"HANDOFF_SMTP_USER": "u"}, "HANDOFF_SMTP_USER and HANDOFF_SMTP_PASSWORD go together"),
                         ({"HANDOFF_SMTP_STARTTLS": "maybe"}, "HANDOFF_SMTP_STARTTLS must be 1 or 0"),
                         ({"HANDOFF_MAIL_FROM": "nobody"}, "HANDOFF_MAIL_FROM must be an e-mail address"),
                         ({"HANDOFF_MAIL_REPLY_LOCAL": "sup+port"}, "HANDOFF_MAIL_REPLY_LOCAL must be"),
                         ({"HANDOFF_MAIL_SECRET": "short"}, "HANDOFF_MAIL_SECRET must be at least 16")]:
        with pytest.raises(SettingsError, match=message):
            Settings.from_env({**required, **env})


# --- the outbox, through a real SMTP relay ---------------------------------------------------------------------------

class Relay:
    """A real SMTP server (aiosmtpd, in a thread) standing in for the shop's mail relay. Recipients in ``defer`` get
    451 (try later), in ``reject`` 550."""

    def __init__(self, port: int, defer: Tuple[str, ...] = (), reject: Tuple[str, ...] = (),
                 slow: Tuple[str, ...] = ()) -> None:
        self.received: List[Any] = []
        self.slow = slow
        self.attempts: Dict[str, int] = {}
        self.defer, self.reject = defer, reject
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_RCPT(self, server, session, envelope, address, options):
        with self.lock:
            self.attempts[address] = self.attempts.get(address, 0) + 1
        if address in self.reject:
            return "550 5.1.1 No such user"
        if address in self.defer:
            return "451 4.3.0 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        if set(envelope.rcpt_tos) & set(self.slow):
            await asyncio.sleep(1.5)  # a slow relay: longer than the first retry wait, shorter than claim_idle
        with self.lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), mail))
        return "250 Message accepted for delivery"

    def __enter__(self) -> "Relay":
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()


def smtp(port: int, **changes: Any) -> SmtpSettings:
    values = dict(host="127.0.0.1", port=port, envelope_from="support@shop.example", timeout=5, tries=3,
                  retry_seconds=0.2, retry_max_seconds=0.5, claim_idle_seconds=2.0, poll_seconds=0.1)
    values.update(changes)
    return SmtpSettings(**values)


def prefix() -> str:
    return f"{{m{uuid.uuid4().hex[:8]}}}:"


async def until(check, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def start(mailer: Mailer) -> "asyncio.Task":
    task = asyncio.ensure_future(mailer.run())
    task.mailer = mailer  # type: ignore[attr-defined]
    return task


async def stop(*tasks: "asyncio.Task") -> None:
    for task in tasks:
        task.mailer.stop()  # type: ignore[attr-defined]
    done, pending = await asyncio.wait(tasks, timeout=5)
    assert not pending, "a Mailer did not stop"
    for task in done:
        task.result()  # run() returned, with no error


def mail_for(number: int, email: str = "li.lei@example.cn", seq: int = 4) -> Any:
    view = ticket(id=f"{number:032x}", number=number, label=f"T-{number}",
                  requester={**ticket()["requester"], "email": email})
    return compose(view, reply(seq=seq), MAIL), f"T-{number}"


def test_the_mailer_delivers_through_the_smtp_relay_and_acknowledges(redis_server: str):
    p, port = prefix(), free_port()
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)

    async def scenario() -> None:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        outbox = MailOutbox(client, p)
        message, label = mail_for(10042)
        assert await outbox.enqueue(message, label) is not None  # before any Mailer ran: still sent
        assert await outbox.enqueue(message, label) is None  # the same reply again: not a second mail
        with Relay(port) as relay:
            task = start(Mailer(client, p, smtp(port), "one"))
            await until(lambda: relay.received)
            await until(lambda: r.xlen(f"{p}mail") == 0)
            await stop(task)
        sender, recipients, mail = relay.received[0]
        assert (sender, recipients) == ("support@shop.example", ["li.lei@example.cn"])
        assert mail["Subject"] == "[T-10042] Printer shows E04"
        assert parse_reply_address(mail["Reply-To"].addresses[0].addr_spec, "support", "shop.example")[0] == "T-10042"
        assert len(relay.received) == 1
        await client.close()

    run(scenario())
    assert r.xpending(f"{p}mail", "mailer")["pending"] == 0
    assert r.llen(f"{p}mail:dead") == 0


def test_mail_waits_while_the_relay_is_down_and_is_delivered_when_it_comes_up(redis_server: str):
    p, port = prefix(), free_port()
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)

    async def scenario() -> List[Any]:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        task = start(Mailer(client, p, smtp(port, tries=50), "one"))
        message, label = mail_for(10042)
        await MailOutbox(client, p).enqueue(message, label)
        await until(lambda: r.hlen(f"{p}mail:errors") == 1)  # a try failed: nobody listens on the port
        assert "Connection refused" in next(iter(r.hgetall(f"{p}mail:errors").values()))
        assert r.xpending(f"{p}mail", "mailer")["pending"] == 1  # kept, not lost
        with Relay(port) as relay:
            await until(lambda: relay.received)
            await until(lambda: r.xlen(f"{p}mail") == 0)
            await stop(task)
        await client.close()
        return relay.received

    received = run(scenario())
    assert len(received) == 1 and received[0][2]["Subject"] == "[T-10042] Printer shows E04"
    assert r.hlen(f"{p}mail:errors") == 0 and r.llen(f"{p}mail:dead") == 0


def test_a_mail_that_always_fails_is_parked_after_its_tries_and_a_refused_one_at_once(redis_server: str):
    p, port = prefix(), free_port()
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    busy, gone = "busy@example.cn", "gone@example.cn"

    async def scenario() -> Relay:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        with Relay(port, defer=(busy,), reject=(gone,)) as relay:
            task = start(Mailer(client, p, smtp(port, tries=3), "one"))
            outbox = MailOutbox(client, p)
            await outbox.enqueue(*mail_for(10042, busy))
            await outbox.enqueue(*mail_for(10043, gone))
            await outbox.enqueue(*mail_for(10044))
            await until(lambda: r.llen(f"{p}mail:dead") == 2)
            await asyncio.sleep(1.0)  # a parked mail is not tried again
            await stop(task)
        await client.close()
        return relay

    relay = run(scenario())
    dead = {record["ticket"]: record for record in map(json.loads, r.lrange(f"{p}mail:dead", 0, -1))}
    assert set(dead) == {"T-10042", "T-10043"}
    assert (dead["T-10042"]["tries"], dead["T-10042"]["to"]) == (3, busy) and "451" in dead["T-10042"]["error"]
    assert dead["T-10043"]["tries"] == 1 and "550" in dead["T-10043"]["error"]
    assert "Subject: [T-10042]" in dead["T-10042"]["mail"]  # the whole mail is kept, to resend by hand
    assert relay.attempts == {busy: 3, gone: 1, "li.lei@example.cn": 1}
    assert [rc for _, rc, _ in relay.received] == [["li.lei@example.cn"]]
    assert r.xlen(f"{p}mail") == 0 and r.xpending(f"{p}mail", "mailer")["pending"] == 0


def test_two_mailers_send_each_mail_once_and_take_over_what_a_dead_one_left(redis_server: str):
    p, port = prefix(), free_port()
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    stream = f"{p}mail"

    async def scenario() -> Relay:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        outbox = MailOutbox(client, p)
        await outbox.enqueue(*mail_for(20000))
        await outbox.enqueue(*mail_for(20001, "slow@example.cn"))  # being sent for 1.5 s: not taken over meanwhile
        # A process read it, then died before sending it: it stays pending under its consumer.
        await client.xgroup_create(stream, "mailer", id="0")
        assert await client.xreadgroup("mailer", "dead-process", {stream: ">"}, count=1)
        for number in range(10001, 10031):
            await outbox.enqueue(*mail_for(number))
        with Relay(port, slow=("slow@example.cn",)) as relay:
            tasks = [start(Mailer(client, p, smtp(port), name)) for name in ("one", "two")]
            await until(lambda: len(relay.received) >= 32)
            await asyncio.sleep(1.0)  # nothing more comes
            await stop(*tasks)
        await client.close()
        return relay

    relay = run(scenario())
    labels = sorted(mail["Subject"].split("]")[0][1:] for _, _, mail in relay.received)
    assert labels == sorted([f"T-{n}" for n in range(10001, 10031)] + ["T-20000", "T-20001"])  # each once, none lost
    assert r.xlen(stream) == 0 and r.xpending(stream, "mailer")["pending"] == 0


# --- replies coming in -----------------------------------------------------------------------------------------------

QUOTED_EN = """Hi, it now shows E05 instead.
- the light blinks
- the paper is stuck

On Sun, Dec 6, 2026 at 1:00 PM Shop Support <support+T-10042.0000@shop.example> wrote:
> ## Please type your reply above this line ##
>
> Please restart the printer and tell me what it shows.
>
> --
> This is an answer to your request T-10042.

--
Li Lei
"""

QUOTED_ZH = """重启以后显示 E05 了。

2026年12月6日 13:00，Shop Support <support@shop.example> 写道：
> ## 请在此行上方输入您的回复 ##
>
> 请先重启打印机。
"""


class Inbox:
    """What the service's handler received, and how it answers (``fail`` raised, if set)."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, str, str, str]] = []
        self.fail: Optional[Exception] = None

    async def handle(self, ticket_id: str, sender: str, text: str, message_id: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append((ticket_id, sender, text, message_id))

    @staticmethod
    async def lookup(label: str) -> Optional[str]:
        return {"T-10042": TICKET_ID, "T-10043": "1" * 32}.get(label)


def send_reply(port: int, to: str, text: str, subject: str = "Re: [T-10042] Printer shows E04",
               message_id: str = "<r1@example.cn>", html: Optional[str] = None) -> None:
    """A customer's mail client sending a reply (blocking: run in a thread)."""
    from email.message import EmailMessage
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = "Li Lei <li.lei@example.cn>", to, subject, message_id
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail, from_addr="bounce-li@example.cn", to_addrs=[to])


def with_listener(inbox: Inbox, scenario) -> Any:
    async def main() -> Any:
        listener = InboundMail(inbox.handle, inbox.lookup, MAIL, "127.0.0.1", 0, max_bytes=100_000)
        await listener.start()
        try:
            return await scenario(listener.port, asyncio.get_running_loop())
        finally:
            await listener.stop()
    return run(main())


def test_a_reply_to_the_reply_address_reaches_the_handler_without_quoted_history_or_signature():
    inbox = Inbox()
    address = reply_address(TICKET_ID, "T-10042", SECRET, "support", "shop.example")

    async def scenario(port: int, loop: Any) -> None:
        await loop.run_in_executor(None, send_reply, port, address, QUOTED_EN)
        await loop.run_in_executor(None, lambda: send_reply(port, address.upper(), QUOTED_ZH, message_id="<r2@x.cn>"))

    with_listener(inbox, scenario)
    assert inbox.calls == [
        (TICKET_ID, "li.lei@example.cn", "Hi, it now shows E05 instead.\n- the light blinks\n- the paper is stuck",
         "<r1@example.cn>"),
        (TICKET_ID, "li.lei@example.cn", "重启以后显示 E05 了。", "<r2@x.cn>")]


def test_forged_or_unknown_addresses_are_refused_before_data_and_the_handler_is_not_called():
    inbox = Inbox()
    good = reply_address(TICKET_ID, "T-10042", SECRET, "support", "shop.example")
    token = good.split(".")[1].split("@")[0]
    forged = good.replace(token, ("0" if token[0] != "0" else "1") + token[1:])
    wrong_ticket = reply_address(TICKET_ID, "T-10043", SECRET, "support", "shop.example")  # T-10042's token
    unknown = reply_address("9" * 32, "T-99999", SECRET, "support", "shop.example")

    async def scenario(port: int, loop: Any) -> List[int]:
        codes = []
        for to in (forged, wrong_ticket, unknown, "support@shop.example", "ceo@shop.example"):
            try:
                await loop.run_in_executor(None, send_reply, port, to, "let me in")
                codes.append(250)
            except smtplib.SMTPRecipientsRefused as e:
                codes.append(e.recipients[to][0])
        return codes

    assert with_listener(inbox, scenario) == [550] * 5
    assert inbox.calls == []


def test_a_handler_failure_answers_451_so_the_mail_is_retried_and_a_refusal_550_with_its_reason():
    inbox = Inbox()
    address = reply_address(TICKET_ID, "T-10042", SECRET, "support", "shop.example")

    async def scenario(port: int, loop: Any) -> List[Tuple[int, bytes]]:
        answers = []
        for failure in (ConnectionError("Redis is restarting"), Refused("This ticket is closed: please write to us anew"),
                        None):
            inbox.fail = failure
            try:
                await loop.run_in_executor(None, send_reply, port, address, "Any news?")
                answers.append((250, b""))
            except smtplib.SMTPDataError as e:
                answers.append((e.smtp_code, e.smtp_error))
        return answers

    answers = with_listener(inbox, scenario)
    assert answers[0][0] == 451
    assert answers[1] == (550, b"5.7.1 This ticket is closed: please write to us anew")
    assert answers[2][0] == 250 and [call[2] for call in inbox.calls] == ["Any news?"]  # the retry got through


def test_html_replies_automatic_replies_and_oversized_mail():
    inbox = Inbox()
    address = reply_address(TICKET_ID, "T-10042", SECRET, "support", "shop.example")
    html = ("<html><body><div>It works <b>now</b>, thanks!</div><div class=\"gmail_quote\">On Sun wrote:"
            "<blockquote>old text</blockquote></div></body></html>")

    def auto_reply(port: int) -> None:
        from email.message import EmailMessage
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "li.lei@example.cn", address, "Out of office"
        mail["Auto-Submitted"] = "auto-replied"
        mail.set_content("I am on holiday until Monday.")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(mail)

    async def scenario(port: int, loop: Any) -> int:
        await loop.run_in_executor(None, lambda: send_reply(port, address, "", html=html))
        await loop.run_in_executor(None, auto_reply, port)
        try:
            await loop.run_in_executor(None, send_reply, port, address, "x" * 200_000)
        except smtplib.SMTPDataError as e:
            return e.smtp_code
        except smtplib.SMTPSenderRefused as e:  # the client saw the SIZE limit in EHLO
            return e.smtp_code
        return 250

    assert with_listener(inbox, scenario) == 552
    assert [call[2] for call in inbox.calls] == ["It works now, thanks!"]  # HTML read, quote and auto-reply dropped
    assert html_text("<p>a &amp; b</p><script>x()</script><p>c</p>") == "a & b\n\nc"
    assert answer_text("Yes.\n\n> only quoted\n> lines", ()) == "Yes."
    # A closing and a name go; a line that merely starts like a closing keeps the rest of the answer.
    assert answer_text("It works.\nBest regards,\nLi Lei\nACME Ltd.") == "It works."
    assert answer_text("好的。\n谢谢，\n李雷") == "好的。"
    assert answer_text("Got it.\nThanks, but the lid is broken too.\nPlease send a new one.\n\nSent from my iPhone") \
        == "Got it.\nThanks, but the lid is broken too.\nPlease send a new one.\n\nSent from my iPhone"
    # A client that copies the old mail under the answer without quoting it: cut at our marker line, and the
    # attribution line just above it goes too.
    markers = MailText.load().markers()
    assert answer_text("Thanks!\n\nShop Support wrote:\n## Please type your reply above this line ##\nold", markers) \
        == "Thanks!"
    assert answer_text("Thanks!\n\n## 请在此行上方输入您的回复 ##\n请先重启打印机。", markers) == "Thanks!"


def test_an_entry_deleted_by_hand_while_pending_is_dropped_not_sent_and_not_stuck(redis_server: str):
    p, port = prefix(), free_port()
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    stream = f"{p}mail"

    async def scenario() -> Relay:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        outbox = MailOutbox(client, p)
        entry = await outbox.enqueue(*mail_for(30000))
        await client.xgroup_create(stream, "mailer", id="0")
        assert await client.xreadgroup("mailer", "dead-process", {stream: ">"}, count=1)
        await client.xdel(stream, entry)  # an operator removed it
        await outbox.enqueue(*mail_for(30001))
        with Relay(port) as relay:
            task = start(Mailer(client, p, smtp(port, claim_idle_seconds=0.5), "one"))
            await until(lambda: relay.received and r.xpending(stream, "mailer")["pending"] == 0)
            await asyncio.sleep(0.5)
            await stop(task)
        await client.close()
        return relay

    relay = run(scenario())
    assert [mail["Subject"] for _, _, mail in relay.received] == ["[T-30001] Printer shows E04"]
    assert r.llen(f"{p}mail:dead") == 0


def test_a_customer_answering_the_sent_mail_in_their_client_adds_only_their_new_text(redis_server: str):
    """The whole loop: the Mailer's mail as the relay received it, answered with the usual quoting, to its Reply-To."""
    p, port = prefix(), free_port()
    inbox = Inbox()

    async def scenario(listen_port: int, loop: Any) -> None:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        chinese = ticket(requester={**ticket()["requester"], "language": "zh"})
        await MailOutbox(client, p).enqueue(compose(chinese, reply("请先重启打印机。"), MAIL), "T-10042")
        with Relay(port) as relay:
            task = start(Mailer(client, p, smtp(port), "one"))
            await until(lambda: relay.received)
            await stop(task)
        await client.close()
        sent = relay.received[0][2]
        quoted = "\n".join("> " + line for line in sent.get_body(("plain",)).get_content().splitlines())
        answer = f"已经重启了，还是 E04。\n\n在 2026年12月6日 13:00，{sent['From']} 写道：\n{quoted}\n"
        await loop.run_in_executor(None, lambda: send_reply(listen_port, sent["Reply-To"].addresses[0].addr_spec,
                                                            answer, subject="Re: " + sent["Subject"]))

    with_listener(inbox, scenario)
    assert inbox.calls == [(TICKET_ID, "li.lei@example.cn", "已经重启了，还是 E04。", "<r1@example.cn>")]
