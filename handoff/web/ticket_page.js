// The ticket page's read-only parts, for tickets.js: the header with the details, the timeline and the linked
// chats (transcript, case brief, chat notes). Pure builders: (ctx, data) -> nodes; `ctx` gives the wording
// (`t`), names (`groupName`, `stateName`, `who`) and the agent (`me`). Every text goes through `el`
// (textContent): customer text is never parsed as HTML.
import { el, fmtSeconds, fmtTime } from "/web/common.js";

const present = (v) => v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0);

function defs(rows) {
  const shown = rows.filter(([, v]) => present(v));
  if (!shown.length) return null;
  return el("dl", { class: "ticket-defs" }, shown.map(([k, v, testid]) =>
    [el("dt", {}, k), el("dd", testid ? { "data-testid": testid } : {}, v instanceof Node ? v : String(v))]));
}

function chips(values, testid) {
  return el("span", { "data-testid": testid }, values.map((v) => el("span", { class: "badge" }, String(v))));
}

/** The header: label, subject, state, team and owner team, assignee, due (overdue marked), requester, fields, flow. */
export function renderTicketHead(ctx, ticket) {
  const { t } = ctx;
  const r = ticket.requester || {};
  const f = ticket.fields || {};
  const flow = ticket.flow;
  const step = flow ? Number(flow.step || 0) : 0;
  const flowText = flow && Array.isArray(flow.steps)
    ? t("flow.step", { name: flow.name, step: step + 1, count: flow.steps.length, group: ctx.groupName(flow.steps[step]) }) : null;
  const due = ticket.due_at
    ? el("span", {}, ticket.due_local ? `${fmtTime(ticket.due_at)} (${ticket.due_local} ${ticket.timezone || ""})`.trim() : fmtTime(ticket.due_at),
      ticket.overdue ? el("span", { class: "badge bad", "data-testid": "ticket-page-overdue" }, t("overdue")) : null)
    : null;
  const teams = Object.entries(ticket.team_seconds || {}).map(([g, sec]) => `${ctx.groupName(g)}: ${fmtSeconds(sec)}`).join(" · ");
  const requester = [r.name, r.customer_id, r.email].filter(present).join(" · ");
  return el("header", { class: "ticket-head" },
    el("h2", { "data-testid": "ticket-title" },
      el("span", { class: "ticket-label", "data-testid": "ticket-label" }, ticket.label), " ",
      el("span", { "data-testid": "ticket-subject" }, ticket.subject)),
    el("p", { class: "row" },
      el("span", { class: `badge state-${ticket.state}`, "data-testid": "ticket-state", "data-state": ticket.state }, ctx.stateName(ticket.state)),
      ticket.merged_into ? el("span", { class: "badge warn" }, t("page.merged", { label: ticket.merged_into })) : null),
    ticket.summary ? el("p", { class: "ticket-summary", "data-testid": "ticket-summary" }, ticket.summary) : null,
    defs([
      [t("field.group"), ctx.groupName(ticket.group), "ticket-group"],
      [t("field.owner_group"), ticket.owner_group !== ticket.group ? ctx.groupName(ticket.owner_group) : null, "ticket-owner-group"],
      [t("field.assignee"), ticket.assignee ? ctx.who(ticket.assignee) : t("row.unassigned"), "ticket-assignee"],
      [t("field.owner_agent"), ticket.owner_agent && ticket.owner_agent !== ticket.assignee ? ctx.who(ticket.owner_agent) : null],
      [t("field.due"), due, "ticket-due"],
      [t("field.priority"), ticket.priority],
      [t("field.created"), fmtTime(ticket.created_at)],
      [t("field.requester"), requester || null, "ticket-requester"],
      [t("field.channel"), r.channel],
      [t("field.conversation"), r.conversation_id],
      [t("field.order_id"), f.order_id, "ticket-order"],
      [t("field.product_model"), f.product_model, "ticket-product"],
      [t("field.fault_description"), f.fault_description, "ticket-fault"],
      [t("field.error_codes"), present(f.error_codes) ? chips(f.error_codes, "ticket-error-codes") : null],
      [t("field.tags"), present(ticket.tags) ? chips(ticket.tags, "ticket-tags") : null],
      [t("field.flow"), flowText, "ticket-flow"],
      [t("field.team_time"), teams || null, "ticket-team-time"],
    ]));
}

function fromTo(ctx, e) {
  const name = (v) => {
    if (!present(v)) return ctx.t("entry.nobody");
    if (e.kind === "state" || e.kind === "created") return ctx.stateName(v);
    if (e.kind === "team") return ctx.groupName(v);
    if (e.kind === "assigned") return ctx.who(v);
    return String(v);
  };
  if (!present(e.from) && !present(e.to)) return null;
  if (["state", "team", "assigned"].includes(e.kind)) return `${name(e.from)} → ${name(e.to)}`;
  return present(e.from) && present(e.to) ? `${name(e.from)} → ${name(e.to)}` : name(present(e.to) ? e.to : e.from);
}

/** Every entry: who, when, kind, from -> to, why, the time spent in the team left; public ones apart from internal ones. */
export function renderTimeline(ctx, entries) {
  const { t } = ctx;
  return (entries || []).map((e) => {
    const speaker = e.kind === "customer" ? "customer" : e.kind === "reply" ? "agent" : e.kind === "note" ? "note" : "event";
    return el("li", { class: `entry ${e.public ? "public" : "internal"} ${speaker}`, "data-testid": "timeline-entry",
      "data-kind": e.kind, "data-public": String(!!e.public), "data-seq": String(e.seq ?? "") },
    el("div", { class: "entry-head small" },
      el("strong", { "data-testid": "entry-by" }, ctx.who(e.by)), " · ",
      el("span", {}, fmtTime(e.at)), " · ",
      el("span", { "data-testid": "entry-kind" }, t(`kind.${e.kind}`)),
      e.kind === "reply" || e.kind === "customer" || e.kind === "note"
        ? el("span", { class: `badge ${e.public ? "accent" : "warn"}` }, t(e.public ? "entry.public" : "entry.internal")) : null,
      e.via ? el("span", { class: "muted" }, ` · ${t("entry.via", { via: e.via })}`) : null),
    fromTo(ctx, e) ? el("div", { class: "entry-change", "data-testid": "entry-change" }, fromTo(ctx, e)) : null,
    e.kind === "team" && typeof e.seconds === "number"
      ? el("div", { class: "muted small", "data-testid": "entry-seconds" }, t("entry.time_in_team", { time: fmtSeconds(e.seconds), group: ctx.groupName(e.from) }))
      : null,
    e.escalation ? el("div", { class: "muted small" }, t("chat.title", { id: e.escalation })) : null,
    e.why ? el("div", { class: "muted small", "data-testid": "entry-why" }, t("entry.why", { why: e.why })) : null,
    present(e.text) ? el("div", { class: "entry-text", "data-testid": "entry-text" }, e.text) : null);
  });
}

function line(ctx, speaker, text, at, who) {
  return el("li", { class: `line ${speaker}`, "data-testid": "ticket-transcript-line", "data-speaker": speaker },
    el("span", { class: "who" }, `${who} · ${fmtTime(at)}`),
    el("span", { class: "text" }, String(text ?? "")));
}

function brief(ctx, b) {
  if (!b || !Object.keys(b).length) return null;
  const captured = [
    ...(b.entities || []).map((e) => [String(e.type).toLowerCase().replace(/_/g, " "), e.value]),
    ...Object.entries(b.slots || {}).filter(([, v]) => present(v)).map(([k, v]) => [k.replace(/_/g, " "), typeof v === "object" ? JSON.stringify(v) : v]),
  ];
  const seen = new Set(); // an order number is often both an entity and a slot: once
  const rows = captured.filter(([k, v]) => !seen.has(`${k}\u0000${v}`) && seen.add(`${k}\u0000${v}`));
  return el("div", { class: "ticket-brief", "data-testid": "ticket-brief" },
    el("h4", {}, ctx.t("chat.brief")),
    b.summary ? el("p", { "data-testid": "ticket-brief-summary" }, b.summary) : null,
    (b.topics || []).length ? el("p", {}, b.topics.map((x) => el("span", { class: "badge" }, String(x).replace(/_/g, " ")))) : null,
    defs(rows));
}

/** Each linked chat: the case brief, the transcript (the bot's part, then the chat with agents) and its notes. */
export function renderChats(ctx, chats) {
  const { t } = ctx;
  if (!(chats || []).length) return [el("p", { class: "muted small" }, t("chat.none"))];
  const speakerName = (sp) => t(`speaker.${["customer", "bot", "agent"].includes(sp) ? sp : "bot"}`);
  return chats.map((c) => {
    const lines = (c.transcript || []).map((turn) => {
      const sp = ["customer", "bot", "agent"].includes(turn.speaker) ? turn.speaker : "bot";
      return line(ctx, sp, turn.text, turn.timestamp, speakerName(sp));
    });
    for (const m of [...(c.messages || [])].sort((a, b) => a.seq - b.seq)) {
      const sp = m.speaker === "agent" ? "agent" : "customer";
      lines.push(line(ctx, sp, m.text, m.at, sp === "agent" ? ctx.who(m.author || "") || speakerName("agent") : speakerName("customer")));
    }
    const notes = (c.notes || []).map((n) => el("div", { class: "note", "data-testid": "ticket-chat-note" },
      el("span", { class: "who small muted" }, `${ctx.who(n.author)} · ${fmtTime(n.at)}`), el("div", {}, n.text)));
    return el("section", { class: "ticket-chat", "data-testid": "ticket-chat", "data-escalation": c.escalation_id },
      el("h4", {}, t("chat.title", { id: c.escalation_id })),
      brief(ctx, c.brief),
      el("h4", {}, t("chat.transcript")),
      el("ol", { class: "transcript", "data-testid": "ticket-transcript" }, lines),
      notes.length ? [el("h4", {}, t("chat.notes")), notes] : null);
  });
}
