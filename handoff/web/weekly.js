// The printable weekly report (/reports/weekly/?week=YYYY-Www): the week's figures and what changed against the
// week before, from GET /v1/reports/weekly. Supervisors log in as on the dashboard; wording from
// /web/i18n/reports.<lang>.json. Without ?week= it shows the last full week.
import { api, el, fmtSeconds, requireLogin, showError } from "/web/common.js";
import { fmtNum, fmtShare, headlines, heatMap, isoWeek, reportCatalog, satisfactionParts, slaTable, table, teamsPart, topTable } from "/web/reports.js";

const SECONDS = new Set(["first_response_p50", "first_response_p90", "resolution_p50", "ticket_resolution_p50", "cross_team_seconds"]);
const SHARES = new Set(["containment", "handoff_rate", "fcr", "reopen_rate", "resolved_share"]);

function fmt(name, v) {
  if (v === null || v === undefined) return "–";
  if (SECONDS.has(name)) return fmtSeconds(Math.abs(v));
  if (SHARES.has(name)) return fmtShare(v);
  return name === "satisfaction" ? Number(v).toFixed(2) : fmtNum(v);
}

function change(name, v) {
  if (v === null || v === undefined) return "–";
  const sign = v > 0 ? "+" : v < 0 ? "−" : "±";
  return SHARES.has(name) ? `${sign}${(Math.abs(v) * 100).toFixed(1)} pt` : `${sign}${fmt(name, Math.abs(v))}`;
}

function shift(week, days) {
  const [y, w] = week.split("-W").map(Number);
  const jan4 = new Date(Date.UTC(y, 0, 4));
  const monday = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86400000 + (w - 1) * 7 * 86400000 + days * 86400000);
  return isoWeek(monday.toISOString().slice(0, 10));
}

async function main() {
  await requireLogin("supervisor");
  const t = await reportCatalog();
  const lastWeek = isoWeek(new Date(Date.now() - 7 * 86400000).toISOString().slice(0, 10));
  const week = new URLSearchParams(location.search).get("week") || lastWeek;
  const r = await api(`/v1/reports/weekly?week=${encodeURIComponent(week)}`);
  const s = r.summary;
  document.title = t("weekly.title", { week: r.week });
  const print = el("button", { type: "button", class: "secondary no-print", onclick: () => window.print() }, t("weekly.print"));
  const nav = el("p", { class: "no-print" }, el("a", { href: `?week=${shift(r.week, -7)}`, "data-testid": "weekly-prev" }, t("weekly.prev_link")), " · ",
    el("a", { href: `?week=${shift(r.week, 7)}` }, t("weekly.next_link")), " ", print);
  document.getElementById("weekly").replaceChildren(
    el("h1", { "data-testid": "weekly-title" }, t("weekly.title", { week: r.week })),
    el("p", { class: "muted" }, t("weekly.sub", { from: s.from, to: s.to, tz: s.timezone, previous: r.previous })), nav,
    headlines(t, s),
    el("section", { class: "card" }, el("h2", {}, t("weekly.changes")),
      table([t("weekly.figure"), t("weekly.this"), t("weekly.before"), t("weekly.change")],
        r.changes.map((c) => el("tr", { "data-figure": c.name }, el("td", {}, t(`figure.${c.name}`)), el("td", { class: "num" }, fmt(c.name, c.value)),
          el("td", { class: "num" }, fmt(c.name, c.before)), el("td", { class: "num" }, change(c.name, c.change)))),
        { "data-testid": "weekly-changes" })),
    el("section", { class: "card" }, el("h2", {}, t("top.title")), el("p", { class: "muted small" }, t("top.sub", { threshold: fmtShare(s.top.threshold) })),
      el("h3", {}, t("top.topics")), topTable(t, s.top.topics, "rep-top-topics"), el("h3", {}, t("top.reasons")), topTable(t, s.top.reasons, "rep-top-reasons")),
    el("section", { class: "card" }, el("h2", {}, t("heat.title")), el("p", { class: "muted small" }, t("heat.sub", { tz: s.heat_map.timezone })), heatMap(t, s.heat_map)),
    el("section", { class: "card" }, el("h2", {}, t("sla.title")), slaTable(t, s.sla)),
    el("section", { class: "card" }, el("h2", {}, t("teams.title")), ...teamsPart(t, s.teams)),
    el("section", { class: "card" }, el("h2", {}, t("sat.title")), ...satisfactionParts(t, s.satisfaction)));
  document.getElementById("weekly").dataset.loaded = r.week;
}

main().catch((e) => {
  console.error(e);
  showError(e.message);
});
