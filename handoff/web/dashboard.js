// The supervisor dashboard: live queues, agents, chats breaching or near their first-response SLA,
// today's figures and the last 24 hours by hour.
//
// Data: GET /v1/queues, GET /v1/agents, GET /v1/stats/today, GET /v1/undelivered, fetched together every 5 s and 1 s after
// any WebSocket event (events within that second share one refresh). Clocks (SLA times, oldest waits)
// count up every second from the last answer. Text reaches the page only through `el` / textContent.
// Charts: Chart.js (vendored, loaded with `defer` before this module); without it the charts say so
// and everything else still works.
// Why over 400 lines: the live panels share one refresh cycle and one state (queues, agents, stats); the service
// report, the SLA/surge panels, the charts and the formatting are split out (reports.js, dashboard_clocks.js,
// dashboard_charts.js, dashboard_format.js).
import { mountReports } from "/web/reports.js";
import { ApiError, api, connectEvents, el, fmtSeconds, fmtTime, initPage, logout, pickLang, requireLogin, showError, t, timeZone, toDate } from "/web/common.js";
import { mountDashboardClocks } from "/web/dashboard_clocks.js";
import { renderCharts } from "/web/dashboard_charts.js";
import { clockTime, decimal1, fmtCount, fmtShare, humanize, isNum, plural, shortId } from "/web/dashboard_format.js";

const POLL_MS = 5000;
const EVENT_DEBOUNCE_MS = 1000;
const STALE_MS = 20000;
const TOP = 10;

const $ = (selector) => document.querySelector(selector);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

const state = {
  me: null,
  groupNames: {}, // skill_group -> name, from the queues
  agentNames: {}, // agent id -> name, from the agents list
  localNames: {}, // skill_group -> its name in the page language (GET /v1/meta `names`), when policy gives one
  lastOk: 0, // Date.now() of the last refresh in which every source answered (or 404'd)
  clocks: null, // the SLA warnings and breaches panel and the surge panel (dashboard_clocks.js)
};

// -- live clocks -------------------------------------------------------------------------------
// Each clock is a text node's owner showing `base` seconds at `at` (performance.now()), counting up.
let clocks = [];

function clock(node, base, { sub = null, target = null, label = "", onTarget = null } = {}) {
  clocks.push({ node, base, at: performance.now(), sub, target, label, onTarget });
  return node;
}

function tick() {
  const now = performance.now();
  for (const c of clocks) {
    const seconds = c.base + (now - c.at) / 1000;
    c.node.textContent = fmtSeconds(seconds);
    if (c.sub && isNum(c.target)) {
      const over = seconds - c.target;
      const left = over >= 0 ? t("sla.over", { time: fmtSeconds(over) }) : t("sla.left", { time: fmtSeconds(-over) });
      c.sub.textContent = c.label ? t("sla.label_left", { label: c.label, left }) : left;
      if (over >= 0 && c.onTarget) { // a near chat reaches its target between two answers: red at once
        c.onTarget();
        c.onTarget = null;
      }
    }
  }
  const updated = $("#updated");
  if (state.lastOk && Date.now() - state.lastOk > STALE_MS) {
    updated.textContent = t("updated.stale", { time: clockTime(new Date(state.lastOk)) });
    updated.classList.add("down");
  }
}

// -- queues ------------------------------------------------------------------------------------
function renderQueues(data) {
  const tbody = byTestId("queues").tBodies[0];
  clocks = clocks.filter((c) => !tbody.contains(c.node));
  const queues = (data && data.queues) || [];
  for (const q of queues) state.groupNames[q.skill_group] = state.localNames[q.skill_group] || q.name || q.skill_group;
  if (!queues.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, t("queues.none"))));
    return;
  }
  tbody.replaceChildren(...queues.map((q) => {
    const waiting = q.waiting || 0;
    const level = waiting > 0 && !q.agents_online ? "bad" : waiting > 0 && !q.free_capacity ? "warn" : "";
    const oldest = el("td", { class: "num" }, waiting > 0 ? fmtSeconds(q.oldest_wait_seconds) : "–");
    if (waiting > 0 && isNum(q.oldest_wait_seconds)) clock(oldest, q.oldest_wait_seconds);
    return el("tr", { "data-testid": "queue-row", "data-group": q.skill_group, class: level || null },
      el("td", {}, el("span", { class: "strong" }, state.groupNames[q.skill_group]),
        el("span", { class: "sub" }, q.skill_group)),
      el("td", { class: "num strong", "data-testid": "queue-waiting" }, fmtCount(waiting)),
      oldest,
      el("td", { class: "num", "data-testid": "queue-online" }, fmtCount(q.agents_online)),
      el("td", { class: "num", "data-testid": "queue-free" }, `${fmtCount(q.free_capacity)} / ${fmtCount(q.capacity)}`));
  }));
  if (state.clocks) state.clocks.queues(data);
}

// -- agents ------------------------------------------------------------------------------------
const STATUS_ORDER = { online: 0, away: 1, offline: 2 };

function renderAgents(result) {
  const tbody = byTestId("agents").tBodies[0];
  const summary = $("#agents-summary");
  if (result.missing) {
    summary.textContent = "";
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" },
      t("agents.missing"))));
    return;
  }
  const data = result.data;
  const agents = (Array.isArray(data) ? data : (data && data.agents) || []).slice();
  for (const a of agents) state.agentNames[a.id] = a.name || a.id;
  agents.sort((a, b) => (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3)
    || String(a.name || a.id).localeCompare(String(b.name || b.id)));
  const counts = { online: 0, away: 0, offline: 0 };
  for (const a of agents) if (a.status in counts) counts[a.status] += 1;
  summary.textContent = t("agents.summary", counts);
  if (!agents.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, t("agents.none"))));
    return;
  }
  tbody.replaceChildren(...agents.map((a) => {
    const max = isNum(a.max_chats) ? a.max_chats : 0;
    const load = isNum(a.load) ? a.load : 0;
    const chats = Array.isArray(a.chats) ? a.chats : [];
    // chats: escalation ids (or objects with conversation_id/status, should the service send more)
    const chatText = chats.map((c) => (c && typeof c === "object"
      ? `${c.conversation_id || c.id}${c.status ? ` (${c.status})` : ""}` : String(c)));
    return el("tr", { "data-testid": "agent-row", "data-agent": a.id, "data-status": a.status || "",
      class: a.status === "offline" ? "idle" : null },
    el("td", {}, el("span", { class: "strong" }, a.name || a.id),
      el("span", { class: "sub" }, a.role === "supervisor" ? t("agents.supervisor", { id: a.id }) : a.id)),
    el("td", { "data-testid": "agent-status" },
      el("span", { class: `status-dot ${a.status || ""}`, "aria-hidden": "true" }), a.status ? t(`status.${a.status}`) : "–",
      a.status_reason ? el("span", { class: "sub", "data-testid": "agent-status-reason" }, a.status_reason) : null),
    el("td", {}, el("span", { class: "load-cell" },
      // blue while there is room, amber when full (optimum low; full sits between low and high)
      el("meter", { min: 0, max: Math.max(max, 1), low: Math.max(max, 1) - 0.5, high: Math.max(max, 1) + 0.5,
        optimum: 0, value: Math.min(load, Math.max(max, 1)), "aria-label": t("agents.load_label", { load, max }) }),
      el("span", { "data-testid": "agent-load" }, `${fmtCount(load)} / ${fmtCount(max)}`))),
    el("td", { class: "small" }, (a.skills || []).map((s) => state.groupNames[s] || s).join(", ") || "–"),
    el("td", { class: "small", "data-testid": "agent-chats", "data-count": String(chats.length),
      title: chatText.join("\n") || null },
    chats.length ? `${chats.length}: ${chatText.map(shortId).join(", ")}` : isNum(a.chats) ? fmtCount(a.chats) : "–"));
  }));
}

// -- SLA ---------------------------------------------------------------------------------------
// Each open chat's clock comes from the service (handoff/stats.py): `waiting_seconds` for a chat waiting
// or offered (since the handoff; it runs), `first_response_seconds` for an assigned one (since the agent
// accepted, to their first reply, or to now while they have not replied). The answer does not say
// whether an assigned chat's agent has replied, so a clock that stood still between two answers while
// time passed is taken as stopped (replied) until it moves again (a new assignment restarts it).
const seenClocks = new Map(); // escalation id -> {seconds, at, stopped}

function slaClock(item, now) {
  if (isNum(item.waiting_seconds)) return { seconds: item.waiting_seconds, running: true, label: t("sla.waiting") };
  if (!isNum(item.first_response_seconds)) return { seconds: null, running: false, label: "" };
  const seconds = item.first_response_seconds;
  const before = seenClocks.get(item.id);
  let record;
  if (before && Math.abs(seconds - before.seconds) < 0.5) {
    record = { ...before, stopped: before.stopped || now - before.at >= 2000 };
  } else {
    record = { seconds, at: now, stopped: false };
  }
  seenClocks.set(item.id, record);
  return { seconds, running: !record.stopped, label: record.stopped ? t("sla.replied") : t("sla.no_reply") };
}

function renderSla(stats) {
  const tbody = byTestId("sla").tBodies[0];
  clocks = clocks.filter((c) => !tbody.contains(c.node));
  const sla = (stats && stats.sla) || {};
  const target = isNum(sla.first_response_target_seconds) ? sla.first_response_target_seconds : null;
  $("#sla-target").textContent = target === null ? "" : t("sla.target", { time: fmtSeconds(target) });
  const now = performance.now();
  const seen = new Set();
  const items = [];
  for (const [level, list] of [["breaching", sla.breaching], ["near", sla.near]]) {
    const group = [];
    for (const item of list || []) {
      if (!item || seen.has(item.id)) continue;
      seen.add(item.id);
      group.push({ item, level, ...slaClock(item, now) });
    }
    group.sort((a, b) => (b.seconds ?? -1) - (a.seconds ?? -1));
    items.push(...group);
  }
  for (const id of [...seenClocks.keys()]) if (!seen.has(id)) seenClocks.delete(id);
  if (!items.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty" },
      t("sla.none"))));
    return;
  }
  tbody.replaceChildren(...items.map(({ item, level, running, seconds, label }) => {
    const time = el("span", {}, fmtSeconds(seconds));
    const sub = el("span", { class: "sub" }, label);
    const badge = el("span", { class: `badge ${level === "breaching" ? "bad" : "warn"}` },
      level === "breaching" ? t("sla.breaching") : t("sla.near"));
    const row = el("tr", { "data-testid": "sla-row", "data-id": item.id, "data-level": level,
      "data-running": running ? "true" : "false", class: level === "breaching" ? "bad" : "warn" });
    const breach = () => {
      row.dataset.level = "breaching";
      row.className = "bad";
      badge.className = "badge bad";
      badge.textContent = t("sla.breaching");
    };
    if (running && seconds !== null) clock(time, seconds, { sub, target, label, onTarget: level === "near" ? breach : null });
    else if (target !== null && seconds !== null && seconds >= target) {
      sub.textContent = t("sla.label_over", { label, time: fmtSeconds(seconds - target) });
    }
    row.append(
      el("td", {}, badge),
      el("td", {}, el("span", { "data-testid": "sla-conversation" }, item.conversation_id ?? "–"),
        el("span", { class: "sub", title: String(item.id ?? "") }, t("sla.chat", { id: shortId(item.id) }))),
      el("td", {}, state.groupNames[item.skill_group] || item.skill_group || "–"),
      el("td", { class: "nowrap" }, item.status ? t(`handoff.${item.status}`) : "–"),
      el("td", {}, item.agent_id ? state.agentNames[item.agent_id] || item.agent_id : "–"),
      el("td", { class: "num clock", "data-testid": "sla-time" }, time, sub));
    return row;
  }));
}

// -- today's figures ---------------------------------------------------------------------------
/** A KPI card: `text` shown, `raw` (a number or null) kept in data-value for tests and tools. */
function setKpi(testId, raw, text, sub) {
  const card = byTestId(testId);
  card.dataset.value = isNum(raw) ? String(raw) : "";
  card.querySelector(".kpi-value").textContent = text;
  if (sub !== undefined) card.querySelector(".kpi-sub").textContent = sub || "\u00a0";
}

function renderKpis(s) {
  $("#since").textContent = s.since ? t("kpi.since", { time: fmtTime(s.since) }) : "";
  setKpi("kpi-handoffs", s.handoffs, fmtCount(s.handoffs),
    s.conversations > 0 ? t("kpi.handoffs_of", { n: plural(s.conversations, "kpi.conversations") }) : t("kpi.handoffs_sub"));
  setKpi("kpi-handoff-rate", s.handoff_rate, fmtShare(s.handoff_rate), t("kpi.handoff_rate_sub"));
  setKpi("kpi-wait-p50", s.wait_p50_seconds, fmtSeconds(s.wait_p50_seconds));
  setKpi("kpi-wait-p90", s.wait_p90_seconds, fmtSeconds(s.wait_p90_seconds));
  setKpi("kpi-fcr", s.first_contact_resolution, fmtShare(s.first_contact_resolution), t("kpi.fcr_sub"));
  const sat = s.satisfaction || {};
  setKpi("kpi-satisfaction", sat.average_rating,
    isNum(sat.average_rating) ? t("kpi.rating", { rating: decimal1.format(sat.average_rating) }) : "–",
    sat.responses ? t("kpi.satisfaction_sub", { n: plural(sat.responses, "kpi.responses"), share: fmtShare(sat.resolved_share) })
      : t("kpi.no_survey"));
  const outcomes = Object.entries(s.outcomes || {}).filter(([, n]) => isNum(n) && n > 0);
  $(".outcomes").replaceChildren(...(outcomes.length
    ? [el("span", {}, t("kpi.outcomes")), ...outcomes.map(([status, n]) => el("span", { class: "badge", "data-status": status },
      t("kpi.outcome", { status: t(`outcome.${status}`) === `outcome.${status}` ? humanize(status) : t(`outcome.${status}`), n: fmtCount(n) })))]
    : []));
}

function renderTop(testId, list, noneKey) {
  const tbody = byTestId(testId).tBodies[0];
  const rows = (list || []).filter((r) => r && isNum(r.count)).slice(0, TOP);
  if (!rows.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 3, class: "empty" }, t(noneKey))));
    return;
  }
  const max = Math.max(...rows.map((r) => r.count), 1);
  tbody.replaceChildren(...rows.map((r) => el("tr", { "data-testid": `${testId}-row`, "data-name": String(r.name ?? "") },
    el("td", { title: String(r.name ?? "") }, humanize(r.name)),
    el("td", { class: "num" }, fmtCount(r.count)),
    el("td", {}, el("meter", { min: 0, max, value: r.count, "aria-hidden": "true" })))));
}

function renderStats(result) {
  if (result.missing) {
    for (const id of ["sla", "top-reasons", "top-topics"]) {
      const tbody = byTestId(id).tBodies[0];
      const cols = byTestId(id).tHead.rows[0].cells.length;
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: cols, class: "empty" },
        t("stats.missing"))));
    }
    return;
  }
  const s = result.data || {};
  renderKpis(s);
  renderSla(s);
  renderTop("top-reasons", s.top_reasons, "top.no_reasons");
  renderTop("top-topics", s.top_topics, "top.no_topics");
  renderCharts(s.hourly);
}

/** What the bot could not deliver (refused by this service) and the events its bridge gave up on (an agent's
 * message it could not push...), parked for a person: a small table; text only through textContent (el). */
function undeliveredWhat(i) {
  if (i.kind === "survey") return t("undelivered.survey", { id: i.ticket ?? i.escalation ?? "?" });
  if (i.kind === "event") return t("undelivered.event", { event: i.event ?? "?", id: i.conversation_id ?? "?" });
  if (i.kind === "unreadable") return t("undelivered.unreadable");
  return t("undelivered.handoff", { id: i.conversation_id ?? "?" });
}

function renderUndelivered(result) {
  const table = byTestId("undelivered");
  const tbody = table.tBodies[0];
  const d = result.missing ? { total: 0, items: [] } : result.data || {};
  const items = Array.isArray(d.items) ? d.items : [];
  $("#undelivered-total").textContent = isNum(d.total) && d.total ? t("undelivered.total", { n: fmtCount(d.total) }) : "";
  if (!items.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty" }, t("undelivered.none"))));
    return;
  }
  tbody.replaceChildren(...items.map((i) => el("tr", { "data-testid": "undelivered-row" },
    el("td", {}, i.at ? fmtTime(i.at) : "–"),
    el("td", {}, undeliveredWhat(i)),
    el("td", { class: "num" }, i.status == null ? "–" : String(i.status)),
    el("td", { title: String(i.error ?? "") }, String(i.error ?? "").slice(0, 120)))));
}

// -- refreshing --------------------------------------------------------------------------------
const SOURCES = [
  { key: "queues", path: "/v1/queues", label: "source.queues", render: (r) => renderQueues(r.data) },
  { key: "agents", path: "/v1/agents", label: "source.agents", render: renderAgents },
  { key: "stats", path: "/v1/stats/today", label: "source.stats", render: renderStats },
  { key: "undelivered", path: "/v1/undelivered", label: "source.undelivered", render: renderUndelivered },
];

let inFlight = null;
let again = false;
let pollTimer = null;
let eventTimer = null;

async function load() {
  const results = await Promise.allSettled(SOURCES.map((s) => api(s.path)));
  const failed = [];
  let firstProblem = "";
  results.forEach((r, i) => {
    const source = SOURCES[i];
    let result;
    if (r.status === "fulfilled") result = { data: r.value };
    else if (r.reason instanceof ApiError && r.reason.status === 404) result = { missing: true };
    else {
      if (r.reason instanceof ApiError && r.reason.status === 401) throw r.reason;
      failed.push(t(source.label));
      firstProblem = firstProblem || (r.reason && r.reason.message) || String(r.reason);
      return; // keep showing the last figures
    }
    try {
      source.render(result);
    } catch (e) {
      console.error(`rendering ${source.label} failed`, e);
      failed.push(t(source.label));
      firstProblem = firstProblem || t("refresh.unshowable", { message: e.message });
    }
  });
  const updated = $("#updated");
  if (failed.length) {
    const since = state.lastOk ? t("refresh.showing", { time: clockTime(new Date(state.lastOk)) }) : "";
    showError(t("refresh.failed", { what: failed.join(t("list.sep")), problem: firstProblem, since, s: POLL_MS / 1000 }));
  } else {
    state.lastOk = Date.now();
    showError("");
    updated.textContent = t("updated.at", { time: clockTime(new Date(state.lastOk)) });
    updated.classList.remove("down");
  }
  tick();
}

/** Refreshes everything now (or right after the refresh in flight), then polls again in POLL_MS. */
async function refresh() {
  if (inFlight) {
    again = true;
    return;
  }
  clearTimeout(pollTimer);
  inFlight = load();
  try {
    await inFlight;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      location.reload(); // the token expired: api() dropped it, so the reload shows the log-in form
      return;
    }
    console.error("refresh failed", e);
    showError(t("refresh.dashboard_failed", { message: e.message }));
  } finally {
    inFlight = null;
  }
  if (again) {
    again = false;
    refresh();
  } else {
    pollTimer = setTimeout(refresh, POLL_MS);
  }
}

let snapshots = 0;

/**
 * Any event: refresh within a second; the events of that second share one refresh. The snapshot that
 * opens each connection counts too (after a reconnect it catches up on the gap), but for the first.
 */
const ACTIVITY_LINES = 30;
const SPEAKER = { customer: "who.customer", agent: "who.agent", bot: "who.bot" };

/** A message or note of any chat, newest on top; its text only ever through textContent (el). */
function showActivity(event) {
  const list = byTestId("activity");
  const message = event.type === "note" ? { ...(event.note || {}), speaker: "note" } : event.message;
  if (!list || !message || typeof message.text !== "string") return;
  list.querySelector(".empty")?.remove();
  const who = message.speaker === "note" ? t("activity.note_by", { author: message.author || t("who.agent") })
    : message.speaker === "agent" ? t("activity.agent", { author: message.author || "" }).trim()
      : SPEAKER[message.speaker] ? t(SPEAKER[message.speaker]) : String(message.speaker || "");
  list.prepend(el("li", { "data-testid": "activity-row", "data-speaker": message.speaker || "" },
    el("span", { class: "muted small" }, fmtTime(message.at ?? event.at)), " ",
    el("span", { class: "activity-chat muted small" }, shortId(event.conversation_id)), " ",
    el("strong", {}, t("activity.who", { who })),
    el("span", { class: "activity-text" }, message.text)));
  while (list.children.length > ACTIVITY_LINES) list.lastElementChild.remove();
}

function onEvent(event) {
  if (event && (event.type === "message" || event.type === "note")) showActivity(event);
  if (event && state.clocks) state.clocks.onEvent(event);
  if (event && event.type === "snapshot" && snapshots++ === 0) return; // the first fetch covers it
  if (eventTimer) return;
  eventTimer = setTimeout(() => {
    eventTimer = null;
    refresh();
  }, EVENT_DEBOUNCE_MS);
}

function onConnection(stateName) {
  const conn = $("#conn");
  conn.classList.toggle("live", stateName === "open");
  conn.classList.toggle("down", stateName !== "open");
  conn.textContent = ["open", "closed", "unauthorized", "forbidden"].includes(stateName) ? t(`conn.${stateName}`) : stateName;
  if (stateName === "unauthorized") location.reload();
}

async function main() {
  await initPage("dashboard");
  const me = await requireLogin("supervisor");
  state.me = me;
  $("#who").textContent = t("who.me", { name: me.name || me.id });
  const logoutButton = $("#logout");
  logoutButton.hidden = false;
  logoutButton.addEventListener("click", () => logout());
  try { // skill groups named in the page language (policy/skill_groups.yml `names`); without it the English names
    const lang = pickLang();
    for (const g of (await api("/v1/meta")).skill_groups || []) if (g.names && g.names[lang]) state.localNames[g.id] = g.names[lang];
  } catch (e) {
    console.error("the group names did not load", e);
  }
  try {
    state.clocks = await mountDashboardClocks({ root: $("#clocks-panels"), groupName: (id) => state.groupNames[id] || String(id ?? "–"),
      agentName: (id) => state.agentNames[id] || String(id ?? "–") });
  } catch (e) {
    console.error(e);
    showError(t("start.clocks_failed", { message: e.message }));
  }
  refresh();
  mountReports(document.getElementById("reports")).catch((e) => showError(t("start.report_failed", { message: e.message })));
  setInterval(tick, 1000);
  connectEvents(onEvent, { onState: onConnection });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
}

main().catch((e) => {
  console.error(e);
  showError(t("start.failed", { message: e.message }));
});
