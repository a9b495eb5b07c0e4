"""The durable mail outbox of tickets: the Redis stream ``{prefix}mail``, read by the consumer group ``mailer``.

``MailOutbox.enqueue`` writes one composed mail (handoff/tickets/mail_out.py) as a stream entry; each service process
that sends mail runs a ``Mailer`` (a consumer of its own name in the group), which sends it over SMTP. Guarantees:

- At least once. An entry is acknowledged (XACK, then deleted from the stream) only after the SMTP server accepted the
  mail (250 after DATA). A process that dies while sending leaves the entry pending; another Mailer claims it once it
  has been idle ``claim_idle_seconds`` (XCLAIM with that minimum idle time: exactly one claimer wins) and sends it
  again, with the same Message-ID. Normally once: several Mailers on one stream each get different entries
  (XREADGROUP), and a live Mailer's entry is never claimed while it is being sent, as long as ``claim_idle_seconds``
  is longer than a send can take (``timeout`` bounds each SMTP step).
- Retries with backoff: a failed send stays pending; it is tried again (by any Mailer) when it has been idle
  ``retry_seconds`` doubled per try already made (at most ``retry_max_seconds``). The number of tries is the entry's
  delivery count in Redis, so it survives restarts, and a mail whose sending kills the process is parked too.
- Parked after ``tries`` tries, or at once when the server refuses it for good (5xx for the recipient or the
  message): the JSON record ``{"id", "ticket", "to", "message_id", "error", "tries", "at", "mail"}`` is pushed on the
  list ``{prefix}mail:dead`` and the entry acknowledged, in one transaction, with an error log line naming the ticket.
  Nothing is parked because Redis was unreachable: Redis errors are waited out.
- ``enqueue`` is idempotent per Message-ID for a week (``{prefix}mail:seen:<hash>``): a reply enqueued twice (a retried
  request) is sent once.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Awaitable, Callable, Dict, List, Optional

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

log = logging.getLogger("handoff.mail")

GROUP = "mailer"
SEEN_SECONDS = 7 * 24 * 3600
UNAVAILABLE = (aioredis.ConnectionError, aioredis.TimeoutError)
ENQUEUE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
end
return false
"""
Send = Callable[["SmtpSettings", str, str], None]


@dataclass(frozen=True)
class SmtpSettings:
    """The relay the Mailer sends through, and its retry policy (from handoff/settings.py: ``from_settings``)."""

    host: str
    envelope_from: str  # SMTP MAIL FROM: where bounces go
    port: int = 25
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 30.0  # each SMTP step (connect, each command)
    tries: int = 8
    retry_seconds: float = 30.0  # first retry after this, then doubling
    retry_max_seconds: float = 3600.0
    claim_idle_seconds: float = 300.0  # an entry pending this long in a silent process is taken over
    poll_seconds: float = 1.0  # how long one read blocks; also how often pending entries are looked at

    @classmethod
    def from_settings(cls, settings: Any) -> "SmtpSettings":
        return cls(host=settings.smtp_host, envelope_from=parseaddr(settings.mail_from)[1], port=settings.smtp_port,
                   user=settings.smtp_user, password=settings.smtp_password, starttls=settings.smtp_starttls,
                   tries=settings.mail_tries, retry_seconds=settings.mail_retry_seconds)

    def backoff(self, tries: int) -> float:
        """Seconds to wait after ``tries`` failed tries."""
        return min(self.retry_seconds * 2 ** max(0, tries - 1), self.retry_max_seconds)


class Permanent(Exception):
    """The SMTP server refused this mail for good (5xx for its recipient or content): trying again cannot help."""


def mail_fields(message: EmailMessage, ticket_label: str) -> Dict[str, str]:
    """The stream entry of a composed mail: ticket label, envelope recipient, Message-ID, the whole mail."""
    return {"ticket": ticket_label, "to": parseaddr(str(message["To"]))[1],
            "message_id": str(message["Message-ID"]), "mail": message.as_string()}


class MailOutbox:
    """Where the service puts mails to send: ``await MailOutbox(redis, "{ho}:").enqueue(message, "T-10042")``."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.stream = f"{prefix}mail"
        self.seen = f"{prefix}mail:seen:"
        self._script = redis.register_script(ENQUEUE)

    async def enqueue(self, message: EmailMessage, ticket_label: str) -> Optional[str]:
        """Write the mail to the stream; its entry id, or None when a mail of this Message-ID was enqueued within
        a week (it is not written again). Raises Redis errors: the caller decides whether to retry."""
        fields = mail_fields(message, ticket_label)
        if not fields["to"]:
            raise ValueError("the mail has no recipient (To)")
        key = self.seen + hashlib.sha256(fields["message_id"].encode("utf-8")).hexdigest()[:32]
        flat: List[str] = [str(SEEN_SECONDS)]
        for name, value in fields.items():
            flat += [name, value]
        entry = await self._script(keys=[self.stream, key], args=flat)
        return _s(entry) if entry else None


def send_now(smtp: SmtpSettings, to: str, mail: str) -> None:
    """Send one mail through the relay (blocking; the Mailer runs it in a thread). Returns once the server accepted
    it; raises Permanent for a 5xx refusal of the recipient or the message, anything else for a transient failure."""
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        try:
            client.sendmail(smtp.envelope_from, [to], mail.encode("utf-8"))
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            if codes and all(500 <= code < 600 for code in codes):
                raise Permanent(f"recipient refused: {e.recipients}") from e
            raise
        except smtplib.SMTPDataError as e:
            if 500 <= e.smtp_code < 600:
                raise Permanent(f"message refused: {e.smtp_code} {e.smtp_error!r}") from e
            raise
        try:  # accepted: a failing QUIT must not make it look unsent
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass
    finally:
        client.close()


class Mailer:
    """Sends the outbox's mails, as consumer ``consumer`` of the group ``mailer``: ``await Mailer(...).run()`` (runs
    until ``stop()``; Redis outages are waited out). ``send`` replaces the SMTP call (tests of parking use the real one)."""

    def __init__(self, redis: aioredis.Redis, prefix: str, smtp: SmtpSettings, consumer: str,
                 send: Send = send_now) -> None:
        self.redis = redis
        self.smtp = smtp
        self.consumer = consumer
        self.stream = f"{prefix}mail"
        self.dead = f"{prefix}mail:dead"
        self.errors = f"{prefix}mail:errors"  # entry id -> the last error, for the parked record
        self.send = send
        self._cursor = "-"
        self._stopping = False

    def stop(self) -> None:
        """Make ``run`` return after the current step (at most ``poll_seconds`` when idle; a send in progress is
        finished first). Cancelling the task alone is not enough: with redis-py 4.6 and async-timeout 4, a
        cancellation that meets the pool's zero timeout in ``can_read_destructive`` is swallowed and lost."""
        self._stopping = True

    async def run(self) -> None:
        await _until_done(self._join)
        await _until_done(self._forget_idle_consumers)
        while not self._stopping:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except UNAVAILABLE as e:
                log.warning("mailer: Redis unavailable (%s); retrying", e)
                await asyncio.sleep(0.5)
            except ResponseError as e:
                if "NOGROUP" not in str(e):
                    log.exception("mailer: reading %s failed", self.stream)
                    await asyncio.sleep(1.0)
                    continue
                log.warning("mailer: the consumer group is gone (Redis lost its data?); joining again")
                await _until_done(self._join)
            except Exception:  # noqa: BLE001 - the mailer never stops for one bad entry
                log.exception("mailer: a step failed")
                await asyncio.sleep(1.0)

    async def step(self) -> None:
        """Send what is due again (own failures after their backoff, a silent process's entries after
        ``claim_idle_seconds``), then one new mail (waiting up to ``poll_seconds`` for it). Entries are taken one at
        a time, just before they are sent, so none waits in this process long enough to look abandoned."""
        await self._send_due()
        reply = await self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=1,
                                            block=max(1, int(self.smtp.poll_seconds * 1000)))
        for entry_id, fields in (reply[0][1] if reply else []):
            await self._deliver(_s(entry_id), fields, 1)

    async def _join(self) -> None:
        """Create the group at the start of the stream (a mail enqueued before any Mailer ran is sent too)."""
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def _forget_idle_consumers(self) -> None:
        """Consumers of earlier processes with nothing pending (a live one is recreated by its next read)."""
        for consumer in await self.redis.xinfo_consumers(self.stream, GROUP):
            name = _s(consumer["name"])
            if name != self.consumer and not consumer["pending"] \
                    and consumer["idle"] > self.smtp.claim_idle_seconds * 1000:
                await self.redis.xgroup_delconsumer(self.stream, GROUP, name)

    async def _send_due(self) -> None:
        """Claim (XCLAIM: one claimer wins each) and send, one by one, the pending entries whose wait is over."""
        low = self._cursor if self._cursor == "-" else f"({self._cursor}"
        pending = await self.redis.xpending_range(self.stream, GROUP, min=low, max="+", count=100,
                                                  idle=max(1, int(self.smtp.retry_seconds * 1000)))
        self._cursor = _s(pending[-1]["message_id"]) if len(pending) == 100 else "-"
        for item in pending:
            tries, idle = int(item["times_delivered"]), int(item["time_since_delivered"])
            wait = self.smtp.backoff(tries)
            if _s(item["consumer"]) != self.consumer:
                wait = max(wait, self.smtp.claim_idle_seconds)  # it may be being sent right now
            if idle < wait * 1000:
                continue
            entry_id = _s(item["message_id"])
            claimed = await self.redis.xclaim(self.stream, GROUP, self.consumer, min_idle_time=int(wait * 1000),
                                              message_ids=[entry_id])
            for _, fields in claimed or []:
                if fields is None:  # deleted from the stream by hand (Redis < 7 keeps it pending): nothing to send
                    await self.redis.xack(self.stream, GROUP, entry_id)
                    continue
                await self._deliver(entry_id, fields, tries + 1)

    async def _deliver(self, entry_id: str, fields: Any, tries: int) -> None:
        entry = {_s(k): _s(v) for k, v in (fields or {}).items()}
        ticket, to, mail = entry.get("ticket", "?"), entry.get("to", ""), entry.get("mail", "")
        if not to or not mail:
            await self._park(entry_id, entry, "the entry has no recipient or no mail", tries)
            return
        if tries > self.smtp.tries:  # the last holder died while sending it (or the mail kills the process)
            last = _s(await self.redis.hget(self.errors, entry_id)) or "the sending process stopped during the send"
            await self._park(entry_id, entry, last, tries - 1)
            return
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.send, self.smtp, to, mail)
        except Permanent as e:
            await self._park(entry_id, entry, str(e), tries)
            return
        except Exception as e:  # noqa: BLE001 - any failure of the relay: tried again later, then parked
            error = f"{type(e).__name__}: {e}"[:500]
            if tries >= self.smtp.tries:
                await self._park(entry_id, entry, error, tries)
                return
            log.warning("mail of ticket %s (%s) failed (try %d of %d): %s; again in %.0f s", ticket,
                        entry.get("message_id"), tries, self.smtp.tries, error, self.smtp.backoff(tries))
            await _until_done(lambda: self.redis.hset(self.errors, entry_id, error))
            return

        async def done() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.xack(self.stream, GROUP, entry_id).xdel(self.stream, entry_id) \
                    .hdel(self.errors, entry_id).execute()
        await _until_done(done)
        log.info("mail of ticket %s (%s) sent (try %d)", ticket, entry.get("message_id"), tries)

    async def _park(self, entry_id: str, entry: Dict[str, str], error: str, tries: int) -> None:
        record = json.dumps({"id": entry_id, "ticket": entry.get("ticket"), "to": entry.get("to"),
                             "message_id": entry.get("message_id"), "error": error, "tries": tries,
                             "at": time.time(), "mail": entry.get("mail")}, ensure_ascii=False)

        async def park() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.rpush(self.dead, record).xack(self.stream, GROUP, entry_id).xdel(self.stream, entry_id) \
                    .hdel(self.errors, entry_id).execute()
        await _until_done(park)
        log.error("mail of ticket %s (%s) not sent after %d tries: parked in %s: %s", entry.get("ticket"),
                  entry.get("message_id"), tries, self.dead, error)


def describe_parked(raw: str) -> Dict[str, Any]:
    """A parked mail as a supervisor's list shows it (kind "mail", GET /v1/undelivered): which ticket, why, how
    often tried and when, never the mail itself or its address; a broken record says so."""
    try:
        record = json.loads(raw)
        out: Dict[str, Any] = {"kind": "mail", "id": str(record["id"]), "ticket": record.get("ticket"),
                               "error": str(record.get("error") or "")[:500], "attempts": int(record.get("tries") or 0)}
        at = record.get("at")
        if isinstance(at, (int, float)) and not isinstance(at, bool):
            out["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(at)))
        return out
    except (ValueError, AttributeError, KeyError, TypeError, OverflowError, OSError):
        return {"kind": "unreadable", "error": raw[:200]}


def _s(value: Any) -> Any:
    """Text from what a Redis client without decode_responses returns."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


async def _until_done(step: Callable[[], Awaitable[Any]]) -> Any:
    """Run a Redis step again until Redis answers (it may be restarting)."""
    while True:
        try:
            return await step()
        except UNAVAILABLE as e:
            log.warning("mailer: Redis unavailable (%s); retrying", e)
            await asyncio.sleep(0.5)
