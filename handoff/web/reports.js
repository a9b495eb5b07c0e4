// The service report on the supervisor dashboard, and the pieces the weekly page reuses.
//
// Data: GET /v1/reports/summary?from&to (whole days in the business time zone; definitions in docs/reports.md).
// Wording: /web/i18n/reports.<lang>.json (en, zh; English beneath). Text reaches the page only through `el`
// (textContent); colours of the heat map through the CSSOM (allowed by the CSP), never a style attribute.
// The CSV exports need the supervisor's token, so they are fetched and handed to the browser as a file.
import { api, el, fmtSeconds, token } from "/web/common.js";
import { pickLang } from "/web/tickets.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const charts = [];

/** A translator over /web/i18n/reports.<lang>.json, English beneath: t(key, {name}) fills "{name}". */
export async function reportCatalog(lang = pickLang()) {
  const get = async (l) => {
    const r = await fetch(`/web/i18n/reports.${l}.json`, { cache: "no-cache" });
    if (!r.ok) throw new Error(`the reports wording (${l}) did not load: HTTP ${r.status}`);
    return r.json();
  };
  const english = await get("en");
  const own = lang === "en" ? english : { ...english, ...(await get(lang).catch(() => ({}))) };
  return (key, vars = {}) => String(own[key] ?? key).replace(/\{(\w+)\}/g, (m, n) => (n in vars ? String(vars[n]) : m));
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const pct = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
export const fmtShare = (v) => (isNum(v) ? pct.format(v) : "–");
export const fmtNum = (v) => (isNum(v) ? new Intl.NumberFormat().format(v) : "–");
const fmtSec = (v) => (isNum(v) ? fmtSeconds(v) : "–");
const human = (s) => String(s ?? "").replace(/_/g, " ");

/** A table: head labels, rows of cells (a cell: text, or a node); `attrs` for the table. */
export function table(head, rows, attrs = {}) {
  return el("table", { class: "dash-table", ...attrs },
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.length ? rows.map((r) => (r instanceof Node ? r : el("tr", {}, r.map((c) => el("td", {}, c)))))
      : el("tr", {}, el("td", { colspan: String(head.length), class: "empty" }, "–"))));
}

function card(title, testid, ...children) {
  return el("section", { class: "card", "data-testid": testid }, el("h2", {}, title), ...children);
}

function kpi(label, value, testid, sub = "") {
  return el("div", { class: "card kpi", "data-testid": testid },
    el("span", { class: "kpi-value" }, value), el("span", { class: "kpi-label" }, label),
    el("span", { class: "kpi-sub muted small" }, sub || "\u00a0"));
}

export function headlines(t, s) {
  const ct = s.times.chat;
  return el("div", { class: "kpi-grid" },
    kpi(t("kpi.conversations"), fmtNum(s.containment.conversations), "rep-conversations"),
    kpi(t("kpi.containment"), fmtShare(s.containment.containment), "rep-containment", t("kpi.containment_sub")),
    kpi(t("kpi.handoff_rate"), fmtShare(s.containment.handoff_rate), "rep-handoff-rate"),
    kpi(t("kpi.fcr"), fmtShare(s.fcr.rate), "rep-fcr", t("kpi.fcr_sub")),
    kpi(t("kpi.first_response"), `${fmtSec(ct.first_response.p50)} / ${fmtSec(ct.first_response.p90)}`, "rep-first-response"),
    kpi(t("kpi.resolution"), `${fmtSec(ct.resolution.p50)} / ${fmtSec(ct.resolution.p90)}`, "rep-resolution"),
    kpi(t("kpi.reopen"), fmtShare(s.reopens.rate), "rep-reopen"),
    kpi(t("kpi.cross_team"), fmtSec(s.teams.cross_team_seconds), "rep-cross-team"));
}

export function heatMap(t, h) {
  const max = Math.max(1, ...h.volume.flat());
  const rows = h.volume.map((hours, d) => el("tr", {}, el("th", { scope: "row" }, t(`day.${DAYS[d]}`)),
    hours.map((count, hour) => {
      const cell = el("td", { class: "heat-cell", "data-count": String(count), title: t("heat.cell", { count, wait: fmtSec(h.wait_p50[d][hour]) }) },
        count ? String(count) : "");
      cell.style.backgroundColor = `rgba(37, 99, 235, ${(count / max).toFixed(3)})`;
      if (count / max > 0.55) cell.classList.add("heat-dark");
      return cell;
    })));
  return el("div", { class: "scroll" }, el("table", { class: "heat", "data-testid": "heat-map" },
    el("thead", {}, el("tr", {}, el("th", {}, ""), [...Array(24).keys()].map((x) => el("th", { scope: "col" }, String(x))))),
    el("tbody", {}, rows)));
}

export function slaTable(t, sla) {
  return table([t("sla.kind"), t("sla.group"), t("sla.band"), t("sla.target"), t("sla.records"), t("sla.breached"), t("sla.attainment")],
    sla.cells.map((c) => [c.kind, c.group, c.band, t(`target.${c.target}`), fmtNum(c.records), fmtNum(c.breached), fmtShare(c.attainment)]),
    { "data-testid": "rep-sla" });
}

export function topTable(t, items, testid) {
  return table([t("top.name"), t("top.count"), t("top.solve_rate"), ""], items.map((i) => el("tr",
    { class: i.flagged ? "flagged" : "", "data-flagged": String(i.flagged), "data-name": i.name },
    el("td", {}, human(i.name)), el("td", { class: "num" }, fmtNum(i.count)), el("td", { class: "num" }, fmtShare(i.solve_rate)),
    el("td", {}, i.flagged ? el("span", { class: "badge warn" }, t("top.flagged")) : ""))), { "data-testid": testid });
}

export function satisfactionParts(t, sat) {
  const rows = (list) => list.map((g) => [g.name, fmtNum(g.responses), isNum(g.average_rating) ? g.average_rating.toFixed(2) : "–", fmtShare(g.resolved_share)]);
  const head = [t("sat.name"), t("sat.responses"), t("sat.rating"), t("sat.resolved")];
  const unresolved = sat.unresolved.length
    ? el("ul", { class: "unresolved", "data-testid": "rep-unresolved" }, sat.unresolved.map((u) => el("li", {},
      el("strong", {}, `${u.ref}`), ` · ${u.group} · ${u.agent || "–"} · ${human(u.topic)} · ${u.rating ?? "–"}/5`,
      u.comment ? el("q", {}, u.comment) : "")))
    : el("p", { class: "muted", "data-testid": "rep-unresolved" }, t("sat.none"));
  return [el("h3", {}, t("sat.groups")), table(head, rows(sat.groups), { "data-testid": "rep-sat-groups" }),
    el("h3", {}, t("sat.agents")), table(head, rows(sat.agents), { "data-testid": "rep-sat-agents" }),
    el("h3", {}, t("sat.unresolved"), ` (${sat.unresolved.length})`), unresolved];
}

export function teamsPart(t, teams) {
  return [table([t("teams.group"), t("teams.time"), t("teams.tickets")],
    teams.per_team.map((g) => [g.group, fmtSec(g.seconds), fmtNum(g.tickets)]), { "data-testid": "rep-teams" }),
  el("p", { class: "muted small" }, t("teams.moved", { moved: teams.tickets_moved, tickets: teams.tickets, time: fmtSec(teams.cross_team_seconds) }))];
}

function chart(canvas, config) {
  if (!window.Chart) return;
  charts.push(new window.Chart(canvas, { ...config, options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options } }));
}

function trendsCard(t, tr) {
  const canvas = el("canvas", { "data-testid": "rep-chart-trends", role: "img", "aria-label": t("trend.title") });
  const shares = el("canvas", { "data-testid": "rep-chart-shares", role: "img", "aria-label": t("trend.fcr") });
  const labels = tr.days.map((d) => d.date);
  chart(canvas, { type: "bar", data: { labels, datasets: [
    { label: t("trend.handoffs"), data: tr.days.map((d) => d.handoffs), backgroundColor: "#2563eb" },
    { label: t("trend.conversations"), data: tr.days.map((d) => d.conversations), backgroundColor: "#93c5fd" }] } });
  chart(shares, { type: "line", data: { labels, datasets: [
    { label: t("trend.fcr"), data: tr.days.map((d) => d.fcr), borderColor: "#16a34a" },
    { label: t("trend.containment"), data: tr.days.map((d) => d.containment), borderColor: "#9333ea" }] },
  options: { scales: { y: { min: 0, max: 1 } } } });
  return card(t("trend.title"), "rep-trends", el("div", { class: "dash-grid" }, el("div", { class: "chart-box" }, canvas),
    el("div", { class: "chart-box" }, shares)), el("h3", {}, t("trend.weeks")),
  table(["", t("trend.conversations"), t("trend.handoffs"), t("trend.containment"), t("trend.fcr")],
    tr.weeks.map((w) => [w.week, fmtNum(w.conversations), fmtNum(w.handoffs), fmtShare(w.containment), fmtShare(w.fcr)]),
    { "data-testid": "rep-weeks" }));
}

function topicCard(t, c) {
  const canvas = el("canvas", { "data-testid": "rep-chart-topics", role: "img", "aria-label": t("topic.title") });
  const items = c.by_topic;
  chart(canvas, { type: "bar", data: { labels: items.map((i) => human(i.topic)), datasets: [
    { label: t("topic.containment"), data: items.map((i) => i.containment), backgroundColor: "#16a34a" }] },
  options: { indexAxis: "y", scales: { x: { min: 0, max: 1 } } } });
  return card(t("topic.title"), "rep-topics", c.by_topic_counted ? el("div", { class: "chart-box" }, canvas)
    : el("p", { class: "muted" }, t("topic.not_counted")),
  table([t("topic.topic"), t("topic.conversations"), t("topic.handoffs"), t("topic.containment")],
    items.map((i) => [human(i.topic), fmtNum(i.conversations), fmtNum(i.handoffs), fmtShare(i.containment)]),
    { "data-testid": "rep-topic-table" }));
}

/** ISO week "2026-W48" of a date (YYYY-MM-DD). */
export function isoWeek(day) {
  const d = new Date(`${day}T00:00:00Z`);
  const thursday = new Date(d);
  thursday.setUTCDate(d.getUTCDate() + 3 - ((d.getUTCDay() + 6) % 7));
  const jan4 = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4));
  const week = 1 + Math.round(((thursday - jan4) / 86400000 - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
  return `${thursday.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

async function download(path, name) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error?.message || `HTTP ${r.status}`);
  const url = URL.createObjectURL(await r.blob());
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Renders the report of ``from``..``to`` into ``root`` (replacing what was there). */
export async function renderReport(root, t, from, to) {
  charts.splice(0).forEach((c) => c.destroy());
  const s = await api(`/v1/reports/summary?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  const q = `from=${from}&to=${to}`;
  const exportButton = (kind, label) => el("button", { type: "button", class: "secondary", "data-testid": `rep-export-${kind}`,
    onclick: () => download(`/v1/reports/export.csv?kind=${kind}&${q}`, `${kind}-${from}-${to}.csv`).catch((e) => alert(e.message)) }, label);
  root.replaceChildren(
    el("div", { class: "rep-links" }, exportButton("chats", t("links.export_chats")), exportButton("tickets", t("links.export_tickets")),
      el("a", { href: `/reports/weekly/?week=${isoWeek(to)}`, "data-testid": "rep-weekly-link" }, t("links.weekly"))),
    headlines(t, s),
    card(t("heat.title"), "rep-heat", el("p", { class: "muted small" }, t("heat.sub", { tz: s.heat_map.timezone })), heatMap(t, s.heat_map)),
    trendsCard(t, s.trends),
    el("div", { class: "dash-grid" },
      card(t("top.title"), "rep-top", el("p", { class: "muted small" }, t("top.sub", { threshold: fmtShare(s.top.threshold) })),
        el("h3", {}, t("top.topics")), topTable(t, s.top.topics, "rep-top-topics"),
        el("h3", {}, t("top.reasons")), topTable(t, s.top.reasons, "rep-top-reasons")),
      topicCard(t, s.containment)),
    el("div", { class: "dash-grid" }, card(t("sla.title"), "rep-sla-card", el("div", { class: "scroll" }, slaTable(t, s.sla))),
      card(t("teams.title"), "rep-teams-card", ...teamsPart(t, s.teams))),
    card(t("sat.title"), "rep-satisfaction", ...satisfactionParts(t, s.satisfaction)));
  return s;
}

const isoDay = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

/** The dashboard's report section: a range form (the last 7 days unless the address says #reports=FROM..TO). */
export async function mountReports(section) {
  if (!section) return;
  const t = await reportCatalog();
  const today = new Date();
  const asked = /#reports=(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})/.exec(location.hash);
  const from = el("input", { type: "date", "data-testid": "rep-from", value: asked ? asked[1] : isoDay(new Date(today - 6 * 86400000)) });
  const to = el("input", { type: "date", "data-testid": "rep-to", value: asked ? asked[2] : isoDay(today) });
  const body = el("div", { class: "rep-body", "data-testid": "rep-body" }, el("p", { class: "muted" }, t("loading")));
  const problem = el("p", { class: "error", role: "alert", "data-testid": "rep-error", hidden: true });
  const show = async () => {
    problem.hidden = true;
    try {
      await renderReport(body, t, from.value, to.value);
      body.dataset.loaded = `${from.value}..${to.value}`;
    } catch (e) {
      problem.textContent = t("failed", { message: e.message });
      problem.hidden = false;
    }
  };
  const form = el("form", { class: "rep-range" }, el("label", {}, t("range.from"), " ", from), el("label", {}, t("range.to"), " ", to),
    el("button", { type: "submit", "data-testid": "rep-show" }, t("range.show")));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); show(); });
  section.replaceChildren(el("h2", { class: "section-title" }, t("title")), form, problem, body);
  await show();
}
