"""The survey by e-mail and the page its link opens: for a customer who is gone and whose address is
known (a ticket opened by e-mail, with no chat to ask in), when policy/survey.yml says ``email_when_gone``.

- The mail (wording per language in policy/survey.yml ``email``) goes through the tickets' durable mail outbox
  (handoff/tickets/mail_queue.py: retried, parked after its tries, sent once per Message-ID, which is one per
  ticket and solve, so a retried timer queues nothing new). It needs the ticket e-mail relay (HANDOFF_SMTP_HOST)
  and the public address of this service (HANDOFF_PUBLIC_URL) for the link.
- The link ``/survey/<ticket id>/<token>`` carries an HMAC of the ticket id (the mail secret): nobody can answer
  another ticket's survey by changing the id. The page is a small printable form (no script; every text from the
  policy or the ticket escaped; the service's strict Content-Security-Policy); answering it stores the survey on
  the ticket like the bot's answer (handoff/surveys.py), "not solved" reopening the ticket.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import logging
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Optional

from sanic import Request, Sanic
from sanic.response import HTTPResponse, html as html_response

from handoff.web.pages import HTML_HEADERS
from handoff.store import Conflict, NotFound
from handoff.tickets.mail_out import MailError, one_line, recipient

log = logging.getLogger("handoff.mail")
TOKEN_HEX = 32


def survey_token(secret: str, ticket_id: str) -> str:
    return hmac.new(secret.encode("utf-8"), f"survey:{ticket_id}".encode("utf-8"), hashlib.sha256).hexdigest()[:TOKEN_HEX]


def token_ok(secret: str, ticket_id: str, token: str) -> bool:
    return bool(secret) and hmac.compare_digest(survey_token(secret, ticket_id), str(token))


def survey_link(public_url: str, secret: str, ticket_id: str) -> str:
    return f"{public_url.rstrip('/')}/survey/{ticket_id}/{survey_token(secret, ticket_id)}"


def compose_survey(t: Any, texts: Mapping[str, str], link: str, mail_from: str, domain: str) -> EmailMessage:
    """The survey mail for the solved ticket ``t``; MailError when its requester has no usable address."""
    to = recipient(t.requester.get("email"))
    values = {"label": t.label, "subject": one_line(t.subject) or t.label, "link": link}
    message = EmailMessage()
    message["Subject"] = one_line(texts["subject"].format(**values))
    message["From"] = mail_from
    message["To"] = Address(display_name=one_line(t.requester.get("name"), 80), addr_spec=to)
    key = f"survey:{t.id}:{int(t.solved_at or 0)}"
    message["Message-ID"] = f"<s.{hashlib.sha256(key.encode('utf-8')).hexdigest()[:24]}@{domain}>"
    message["References"] = f"<ticket.{t.id}@{domain}>"
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    body = texts["body"].format(**values).replace("\r\n", "\n") + "\n"
    message.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable" if body.isascii() else "base64")
    return message


def page(texts: Mapping[str, str], label: str, body: str) -> str:
    """A whole HTML page: ``body`` is markup built here from escaped texts only."""
    title = html.escape(texts["page_title"].format(label=label))
    lang = html.escape(texts.get("lang") or "en", quote=True)
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            f'<body><main><h1>{title}</h1>{body}</main></body></html>')


def form(texts: Mapping[str, str]) -> str:
    e = html.escape
    stars = "".join(f'<label><input type="radio" name="rating" value="{n}"> {n}</label> ' for n in range(1, 6))
    return (f'<form method="post" data-testid="survey-form"><fieldset><legend>{e(texts["question"])}</legend>'
            f'<label><input type="radio" name="resolved" value="yes" required> {e(texts["yes"])}</label> '
            f'<label><input type="radio" name="resolved" value="no"> {e(texts["no"])}</label></fieldset>'
            f'<fieldset><legend>{e(texts["rating"])}</legend>{stars}'
            f'<label><input type="radio" name="rating" value="" checked> {e(texts["skip"])}</label></fieldset>'
            f'<button type="submit">{e(texts["send"])}</button></form>')


def answer_from_form(fields: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The survey answer from the posted form; None when it is not one (nothing is stored)."""
    resolved, rating = fields.get("resolved"), fields.get("rating") or ""
    if resolved not in ("yes", "no") or rating not in ("", "1", "2", "3", "4", "5"):
        return None
    return {"resolved": resolved == "yes", "rating": int(rating) if rating else None}


def first(request: Request, name: str) -> Optional[str]:
    values = request.form.getlist(name) if request.form else None
    return values[0] if values else None


class SurveyMail:
    """Queues the survey mail of a ticket (the survey clock's ``mail``), when e-mail is configured."""

    def __init__(self, app: Sanic) -> None:
        self.app = app

    async def __call__(self, t: Any) -> bool:
        s, mail = self.app.ctx.settings, self.app.ctx.mail
        if mail.outbox is None or mail.mail is None or not s.public_url:
            log.info("ticket %s: no survey mail (no HANDOFF_SMTP_HOST or HANDOFF_PUBLIC_URL)", t.label)
            return False
        texts = self.app.ctx.survey_policy.texts(t.requester.get("lang"))
        try:
            message = compose_survey(t, texts, survey_link(s.public_url, mail.mail.secret, t.id), mail.mail.mail_from,
                                     mail.mail.domain)
        except MailError as e:
            log.warning("ticket %s: no survey mail: %s", t.label, e)
            return False
        await mail.outbox.enqueue(message, t.label)
        return True


def register(app: Sanic) -> None:
    def secret() -> str:
        mail = app.ctx.mail.mail
        return mail.secret if mail is not None else ""

    async def ticket_of(ticket_id: str, token: str) -> Any:
        if not token_ok(secret(), ticket_id, token):
            return None
        try:
            return await app.ctx.tickets.find(ticket_id)
        except NotFound:
            return None

    def respond(texts: Mapping[str, str], label: str, body: str, status: int = 200) -> HTTPResponse:
        return html_response(page(texts, label, body), status=status, headers=HTML_HEADERS)

    @app.get("/survey/<ticket_id>/<token>")
    async def survey_page(request: Request, ticket_id: str, token: str) -> HTTPResponse:
        t = await ticket_of(ticket_id, token)
        texts = app.ctx.survey_policy.texts(t.requester.get("lang") if t else None)
        if t is None:
            return respond(texts, "", f'<p data-testid="survey-invalid">{html.escape(texts["invalid"])}</p>', 404)
        if t.survey:
            return respond(texts, t.label, f'<p data-testid="survey-done">{html.escape(texts["answered"])}</p>')
        return respond(texts, t.label, form(texts))

    @app.post("/survey/<ticket_id>/<token>")
    async def survey_answer(request: Request, ticket_id: str, token: str) -> HTTPResponse:
        t = await ticket_of(ticket_id, token)
        texts = app.ctx.survey_policy.texts(t.requester.get("lang") if t else None)
        if t is None:
            return respond(texts, "", f'<p data-testid="survey-invalid">{html.escape(texts["invalid"])}</p>', 404)
        answer = answer_from_form({"resolved": first(request, "resolved"), "rating": first(request, "rating")})
        if answer is None:
            return respond(texts, t.label, form(texts), 422)
        try:
            after, follow = await app.ctx.surveys.ticket(t.id, answer)
        except Conflict:
            return respond(texts, t.label, f'<p data-testid="survey-done">{html.escape(texts["answered"])}</p>', 409)
        said = texts["thanks"]
        if follow and follow.get("due_local"):
            said = texts["follow_up"].format(label=follow["label"], agent_name=follow.get("agent_name") or "",
                                             due_local=follow["due_local"], timezone=follow.get("timezone") or "")
        return respond(texts, t.label, f'<p data-testid="survey-done">{html.escape(said)}</p>')
