// The agent console's service clocks: the SLA alerts of my chats and tickets, and the standby alert
// when a group I am on standby for has a surge. Mounted by console.js, which forwards every event
// (`onEvent`) and draws each chat's clocks with `chatClocks` / `chatBadge`.
//
// Alerts: an `sla_warning` pops "First response due in 6 s" (counting down) on top of the console, naming the
// chat or ticket, with a button that opens it; an `sla_breach` replaces it with the breach and the chat's new
// priority. A surge_started naming me among its standby agents shows a banner with the group and its queue
// until I dismiss it or the surge ends. Everything is in words and icons (clocks.css adds the colours), from
// the clocks catalog; customer text never appears here (only ids, group names and numbers), and what does
// goes through `el` (textContent).
import { el, fmtSeconds } from "/web/common.js";
import { ICONS, clockStrip, keepLive, mergeEventClock, reading, t, targetName, viewClocks } from "/web/clocks.js";

const MAX_ALERTS = 6;

/**
 * `root`: the alerts' box; `surgeRoot`: the standby banner's box. `me()` the logged-in agent; `chat(id)` a chat
 * of my list or undefined; `changed(chat)` redraws a chat; `reload(chat)` loads its record again (then calls
 * `fromRecord`); `openChat(id)`; `openTicket(label)`; `ticketsChanged()` reloads the Tickets view; `groupName(id)`.
 * Returns `{onEvent(event), chatClocks(chat), chatBadge(chat), fromRecord(chat, view)}`.
 *
 * Priority after a breach: the breach's action raises it in the store (it only ever goes up), and says so in an
 * `sla_action` event (which may go to the supervisors only). So a breach of my chat reloads its record, and the
 * priority shown is the record's, or the highest an SLA event of this chat named if that is higher (an event
 * seen before the record that reflects it).
 */
export function mountConsoleClocks({ root, surgeRoot, me, chat, changed, reload, openChat, openTicket, ticketsChanged, groupName }) {
  const alerts = new Map(); // "chat:<id>" / "ticket:<id>" + target -> {node}
  const surges = new Map(); // group -> node

  // -- SLA alerts ---------------------------------------------------------------------------------------
  function subjectOf(event) {
    return event.subject === "ticket" ? { kind: "ticket", id: event.ticket, label: event.label || event.ticket }
      : { kind: "chat", id: event.escalation, label: event.conversation_id || event.escalation };
  }

  function alertWords(event, clock, now) {
    const r = reading(clock, now);
    const target = targetName(event.target);
    const time = fmtSeconds(Math.abs(r.left));
    if (event.type === "sla_breach") return t("alert.breach", { target, time });
    return r.left > 0 ? t("alert.warning", { target, time }) : t("alert.overdue", { target, time });
  }

  /** The priority line of a breach's alert: the chat's priority now (or the event's, for a ticket). */
  function showPriority(node, priority) {
    if (!node) return;
    node.textContent = priority === undefined || priority === null ? "" : t("alert.priority", { priority });
  }

  /** The breach alerts of `subject` ("chat:<id>" / "ticket:<id>") show `priority`. */
  function alertsPriority(subject, priority) {
    for (const [key, a] of alerts) if (key.startsWith(`${subject}:`)) showPriority(a.priority, priority);
  }

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  /** An SLA event of chat `c` named `priority`: it is at least that now (the store only raises it). */
  function floorPriority(c, priority) {
    if (!isNum(priority)) return;
    c.slaPriority = Math.max(isNum(c.slaPriority) ? c.slaPriority : priority, priority);
    if (!isNum(c.priority) || c.priority < c.slaPriority) c.priority = c.slaPriority;
  }

  function showAlert(event, clock) {
    const subject = subjectOf(event);
    const key = `${subject.kind}:${subject.id}:${event.target}`;
    const old = alerts.get(key);
    if (old) old.node.remove();
    const breach = event.type === "sla_breach";
    const words = el("span", { class: "clock-alert-text", "data-testid": "sla-alert-text" });
    const priority = breach ? el("span", { class: "clock-alert-text", "data-testid": "sla-alert-priority" }) : null;
    const where = subject.kind === "ticket"
      ? t("alert.on_ticket", { label: subject.label })
      : t("alert.on_chat", { group: groupName(event.group), conversation: subject.label });
    const open = el("button", { type: "button", class: "secondary", "data-testid": "sla-alert-open",
      onclick: () => (subject.kind === "ticket" ? openTicket(subject.label) : openChat(subject.id)) },
    subject.kind === "ticket" ? t("alert.open_ticket") : t("alert.open_chat"));
    const dismiss = el("button", { type: "button", class: "secondary", "data-testid": "sla-alert-dismiss",
      "aria-label": t("alert.dismiss"), onclick: () => { node.remove(); alerts.delete(key); } }, "✕");
    const node = el("li", { class: "clock-alert", "data-testid": "sla-alert", "data-kind": event.type,
      "data-state": breach ? "breached" : "warning", "data-subject": subject.kind, "data-id": subject.id },
    el("span", { class: "clock-icon", "aria-hidden": "true" }, breach ? ICONS.breached : ICONS.warning),
    el("strong", {}, breach ? t("alert.title_breach") : t("alert.title_warning")),
    words, priority, el("span", { class: "muted small" }, where), el("span", { class: "grow" }), open, dismiss);
    keepLive(words, (now) => { words.textContent = alertWords(event, clock, now); });
    root.prepend(node);
    alerts.set(key, { node, priority });
    const c = subject.kind === "chat" ? chat(subject.id) : null;
    showPriority(priority, c ? c.priority : event.priority);
    while (root.children.length > MAX_ALERTS) root.lastElementChild.remove();
    root.hidden = false;
  }

  function onSla(event) {
    const subject = subjectOf(event);
    if (subject.kind === "chat") {
      const c = chat(subject.id);
      if (!c) return; // not one of mine (a supervisor's console sees every event)
      c.clocks = mergeEventClock(c.clocks, event);
      if (event.type === "sla_breach") floorPriority(c, event.priority);
      changed(c);
      showAlert(event, c.clocks.find((x) => x.target === event.target));
      if (event.type === "sla_breach") reload(c); // its actions (a raised priority) are in the record now
    } else {
      ticketsChanged();
      if (event.agent && event.agent !== me().id) return; // a supervisor sees every ticket's: only my own alert
      showAlert(event, mergeEventClock([], event)[0]);
    }
  }

  function onAction(event) {
    if (event.subject === "ticket") {
      ticketsChanged();
      alertsPriority(`ticket:${event.ticket}`, event.priority);
      return;
    }
    const c = chat(event.escalation);
    if (!c) return;
    floorPriority(c, event.priority);
    alertsPriority(`chat:${c.id}`, c.priority);
    changed(c);
  }

  // -- standby: surges of my groups ----------------------------------------------------------------------
  function onSurge(event) {
    const old = surges.get(event.group);
    if (old) old.remove();
    surges.delete(event.group);
    if (event.type === "surge_started" && (event.standby || []).includes(me().id)) {
      const node = el("div", { class: "surge-banner", "data-testid": "surge-banner", "data-group": event.group, role: "alert" },
        el("span", { class: "clock-icon", "aria-hidden": "true" }, ICONS.surge),
        el("strong", {}, t("surge.title", { group: groupName(event.group) })),
        el("span", { "data-testid": "surge-queue" }, typeof event.wait_seconds === "number"
          ? t("surge.queue", { waiting: event.waiting ?? "?", wait: fmtSeconds(event.wait_seconds) })
          : t("surge.queue_no_wait", { waiting: event.waiting ?? "?" })),
        event.overflow_to ? el("span", { class: "muted small" }, t("surge.overflow", { group: groupName(event.overflow_to) })) : null,
        el("span", { class: "small" }, t("surge.standby")),
        el("span", { class: "grow" }),
        el("button", { type: "button", class: "secondary", "data-testid": "surge-dismiss",
          onclick: () => { node.remove(); surges.delete(event.group); surgeRoot.hidden = surges.size === 0; } }, t("surge.dismiss")));
      surges.set(event.group, node);
      surgeRoot.append(node);
    }
    surgeRoot.hidden = surges.size === 0;
  }

  // -- what console.js calls -----------------------------------------------------------------------------
  function onEvent(event) {
    switch (event.type) {
      case "sla_warning": case "sla_breach": onSla(event); return true;
      case "sla_action": onAction(event); return true;
      case "surge_started": case "surge_ended": onSurge(event); return true;
      default: return false;
    }
  }

  /** A chat's `clocks` from its record or summary, when the service sends them (an older one does not). */
  function fromRecord(c, view) {
    const clocks = viewClocks(view);
    if (clocks) c.clocks = clocks;
    if (isNum(c.slaPriority)) floorPriority(c, c.slaPriority);
    alertsPriority(`chat:${c.id}`, c.priority);
  }

  return {
    onEvent,
    fromRecord,
    chatClocks: (c) => (c.ended ? null : clockStrip(c.clocks, { testid: "chat-clocks" })),
    chatBadge: (c) => (c.ended ? null : clockStrip(c.clocks, { urgentOnly: true, testid: "chat-item-clock" })),
  };
}
