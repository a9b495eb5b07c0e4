// The supervisor dashboard's service clocks: a live panel of SLA warnings and breaches as they happen
// (from the WebSocket's `sla_warning` / `sla_breach` / `sla_action` events: one row per chat or ticket and
// target, the warning turning into the breach), and the surge state per group (GET /v1/queues' `surge`, and the
// `surge_started` / `surge_ended` events in between). Mounted by dashboard.js, which forwards its events and
// its queues answer. Wording from the clocks catalog; text only through `el` (textContent).
import { el, fmtSeconds, fmtTime } from "/web/common.js";
import { ICONS, fromEvent, keepLive, loadWords, reading, t, targetName } from "/web/clocks.js";

const MAX_ROWS = 50;

const shortId = (id) => (/^[0-9a-f]{32}$/.test(String(id)) ? String(id).slice(0, 8) : String(id ?? "–"));

/**
 * Builds the two panels into `root` (a container in the page). `groupName(id)` and `agentName(id)` name them.
 * Resolves to `{onEvent(event), queues(answer)}`.
 */
export async function mountDashboardClocks({ root, groupName, agentName }) {
  await loadWords();
  const rows = new Map(); // "chat:<id>:<target>" -> {tr, event, clock, action}
  const surges = new Map(); // group -> surge ({since, waiting, wait_seconds, overflow_to, standby}) or null

  const th = (key, cls) => el("th", { scope: "col", class: cls }, t(key));
  const body = el("tbody", {}, el("tr", { class: "empty-row" }, el("td", { colspan: 7, class: "empty" }, t("panel.empty"))));
  const table = el("table", { class: "dash-table", "data-testid": "clock-events" },
    el("thead", {}, el("tr", {}, th("panel.when"), th("panel.what"), th("panel.subject"), th("panel.group"),
      th("panel.agent"), th("panel.target"), th("panel.time", "num"))), body);
  const surgeBody = el("tbody");
  const surgeTable = el("table", { class: "dash-table", "data-testid": "surge-panel" },
    el("thead", {}, el("tr", {}, th("surge.group"), th("surge.since"), th("surge.waiting", "num"), th("surge.wait", "num"),
      th("surge.overflow_to"), th("surge.standby_agents"))), surgeBody);
  root.replaceChildren(
    el("section", { class: "card", "aria-labelledby": "clock-events-title" },
      el("h2", { id: "clock-events-title" }, t("panel.title"), " ", el("span", { class: "muted small" }, t("panel.sub"))),
      el("div", { class: "scroll" }, table)),
    el("section", { class: "card", "aria-labelledby": "surge-title" },
      el("h2", { id: "surge-title" }, t("surge.panel_title"), " ", el("span", { class: "muted small" }, t("surge.panel_sub"))),
      surgeTable));
  root.hidden = false;
  renderSurges();

  // -- warnings and breaches --------------------------------------------------------------------------------
  function keyOf(event) {
    return event.subject === "ticket" ? `ticket:${event.ticket}:${event.target ?? ""}` : `chat:${event.escalation}:${event.target ?? ""}`;
  }

  function subjectText(event) {
    return event.subject === "ticket" ? t("panel.ticket", { label: event.label || event.ticket })
      : t("panel.chat", { conversation: shortId(event.conversation_id || event.escalation) });
  }

  function onSla(event) {
    const key = keyOf(event);
    const old = rows.get(key);
    if (old) old.tr.remove();
    const clock = fromEvent(event);
    const breach = event.type === "sla_breach";
    const time = el("td", { class: "num clock", "data-testid": "clock-event-time" });
    const action = el("span", { class: "sub", "data-testid": "clock-event-action" });
    const tr = el("tr", { "data-testid": "clock-event", "data-kind": event.type, "data-subject": event.subject,
      "data-id": event.subject === "ticket" ? event.ticket : event.escalation, "data-target": event.target,
      class: breach ? "bad" : "warn" },
    el("td", { class: "nowrap" }, fmtTime(event.at)),
    el("td", { class: "nowrap" }, el("span", { class: "sla-clock", "data-state": breach ? "breached" : "warning" },
      el("span", { class: "clock-icon", "aria-hidden": "true" }, breach ? ICONS.breached : ICONS.warning),
      el("span", { class: "clock-text" }, breach ? t("panel.breach") : t("panel.warning")))),
    el("td", { title: event.conversation_id || event.ticket || "" }, subjectText(event)),
    el("td", {}, groupName(event.group)),
    el("td", {}, event.agent ? agentName(event.agent) : t("panel.nobody")),
    el("td", {}, targetName(event.target), action),
    time);
    keepLive(time, (now) => {
      const r = reading(clock, now);
      time.textContent = r.left > 0 ? t("panel.left", { time: fmtSeconds(r.left) }) : t("panel.over", { time: fmtSeconds(-r.left) });
    });
    const entry = { tr, action };
    rows.set(key, entry);
    if (old && old.action.textContent) action.textContent = old.action.textContent;
    body.querySelector(".empty-row")?.remove();
    body.prepend(tr);
    while (body.children.length > MAX_ROWS) {
      const last = body.lastElementChild;
      for (const [k, v] of rows) if (v.tr === last) rows.delete(k);
      last.remove();
    }
  }

  function onAction(event) {
    const prefix = event.subject === "ticket" ? `ticket:${event.ticket}:` : `chat:${event.escalation}:`;
    const key = `action.${event.action}`;
    const known = t(key, { priority: event.priority ?? "?" });
    const words = known === key ? String(event.detail || event.action || "") : known; // an action this page has no words for
    const target = event.target !== undefined ? rows.get(`${prefix}${event.target}`) : null;
    // The action follows its breach: the row of that target, else the subject's latest breach row.
    const entry = target || [...rows.entries()].filter(([k, v]) => k.startsWith(prefix) && v.tr.dataset.kind === "sla_breach")
      .map(([, v]) => v)[0];
    if (entry) entry.action.textContent = entry.action.textContent ? `${entry.action.textContent} · ${words}` : words;
  }

  // -- surges ---------------------------------------------------------------------------------------------
  function renderSurges() {
    const on = [...surges.entries()].filter(([, s]) => s);
    if (!on.length) {
      surgeBody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty" }, t("surge.none"))));
      return;
    }
    surgeBody.replaceChildren(...on.map(([group, s]) => el("tr", { "data-testid": "surge-row", "data-group": group, class: "warn" },
      el("td", {}, el("span", { class: "sla-clock", "data-state": "warning" },
        el("span", { class: "clock-icon", "aria-hidden": "true" }, ICONS.surge),
        el("span", { class: "clock-text" }, `${groupName(group)} · ${t("surge.badge")}`))),
      el("td", { class: "nowrap" }, fmtTime(s.since)),
      el("td", { class: "num", "data-testid": "surge-waiting" }, String(s.waiting ?? "–")),
      el("td", { class: "num" }, fmtSeconds(s.wait_seconds)),
      el("td", {}, s.overflow_to ? groupName(s.overflow_to) : "–"),
      el("td", {}, (s.standby || []).map(agentName).join(", ") || "–"))));
  }

  function onSurge(event) {
    surges.set(event.group, event.type === "surge_started"
      ? { since: event.since ?? event.at, waiting: event.waiting, wait_seconds: event.wait_seconds, overflow_to: event.overflow_to, standby: event.standby }
      : null);
    renderSurges();
    markQueues();
  }

  /** GET /v1/queues' answer: each group's `surge` (null: none). A service without the field leaves the events' word. */
  function queues(answer) {
    for (const q of (answer && answer.queues) || []) {
      if (!("surge" in q)) continue;
      const known = surges.get(q.skill_group);
      surges.set(q.skill_group, q.surge ? { ...q.surge, standby: q.surge.standby || (known && known.standby) } : null);
    }
    renderSurges();
    markQueues();
  }

  /** A "⚡ surge" badge on the queues table's row of each group in a surge. */
  function markQueues() {
    for (const tr of document.querySelectorAll('[data-testid="queue-row"]')) {
      const cell = tr.cells[0];
      cell.querySelector(".surge-badge")?.remove();
      if (surges.get(tr.dataset.group)) {
        cell.append(el("span", { class: "badge warn surge-badge", "data-testid": "queue-surge" }, `${ICONS.surge} ${t("surge.badge")}`));
      }
    }
  }

  function onEvent(event) {
    switch (event.type) {
      case "sla_warning": case "sla_breach": onSla(event); break;
      case "sla_action": onAction(event); break;
      case "surge_started": case "surge_ended": onSurge(event); break;
      default: break;
    }
  }

  return { onEvent, queues };
}
