// Service clocks as the agent console and the supervisor dashboard show them: the wording, the
// clock model, the live badges and the countdowns. Shared by console_clocks.js, tickets.js and
// dashboard_clocks.js; no framework.
//
// A clock is what the service sends in a chat's or ticket's `clocks` ({target, target_seconds, due_at, warn_at,
// state, left_seconds, warn_in_seconds, due_in_seconds, counting}) or what an `sla_warning` / `sla_breach` event
// says of one. Everything is relative to the moment it was received (no clock skew can show: the service already
// subtracted). Business time left counts down on the browser's own clock only while the service said business
// time runs (`counting`: not at night, not while paused); the state turns "warning" and "breached" when the wall
// seconds to the warning and the due time have passed (a target of 8 business hours opened at 17:00 warns the next
// day, not when 4 hours are left on the wall clock); the service's event confirms either. Every state is told in
// words and an icon, never by colour alone.
// Wording: /web/i18n/clocks.<lang>.json (en, zh; the language the Tickets view picks; English beneath).
import { el, fmtSeconds, pickLang as pagePickLang } from "/web/common.js";

const TICK_MS = 1000;
export const ICONS = { running: "◷", warning: "⚠", breached: "✖", paused: "‖", met: "✓", surge: "⚡" };
const RANK = { breached: 0, warning: 1, running: 2, paused: 3, met: 4 };

/** The page language (common.js: the switch, else `?lang=`, else the browser's language). */
export function pickLang() {
  return pagePickLang();
}

async function fetchCatalog(lang) {
  const response = await fetch(`/web/i18n/clocks.${lang}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`the clocks wording (${lang}) did not load: HTTP ${response.status}`);
  return response.json();
}

let words = {};
/** t(key, {name: value}): the catalog's message with "{name}" filled; the key itself when the catalog lacks it. */
export const t = (key, vars = {}) => String(words[key] ?? key).replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));

/** Loads the wording once (English beneath the page's language); resolves to `t`. */
let loading = null;
export function loadWords(lang = pickLang()) {
  if (!loading) {
    loading = (async () => {
      const english = await fetchCatalog("en");
      words = lang === "en" ? english : { ...english, ...(await fetchCatalog(lang).catch(() => ({}))) };
      return t;
    })();
  }
  return loading;
}

/** A target's name ("first_response" -> "First response"); an unknown one as the service sent it. */
export const targetName = (target) => (words[`target.${target}`] ? t(`target.${target}`) : String(target ?? ""));

// -- the model ---------------------------------------------------------------------------------------
/** A clock of a `clocks` view entry, seen now (`seenAt`, ms of this browser's clock). */
export function fromView(c, seenAt = Date.now()) {
  const wall = (v) => (v === null || v === undefined || !Number.isFinite(Number(v)) ? null : Number(v));
  return {
    target: c.target, targetSeconds: c.target_seconds, state: c.state, seenAt,
    left: Number(c.left_seconds), counting: c.counting !== false,
    warnIn: wall(c.warn_in_seconds), dueIn: wall(c.due_in_seconds),
  };
}

/** A clock as an `sla_warning` / `sla_breach` event tells of it. */
export function fromEvent(event, seenAt = Date.now()) {
  const breach = event.type === "sla_breach";
  return {
    target: event.target, targetSeconds: event.target_seconds, state: breach ? "breached" : "warning", seenAt,
    left: breach ? -Math.abs(Number(event.over_seconds) || 0) : Number(event.left_seconds), counting: true,
    warnIn: null, dueIn: null,
  };
}

/** `{state, left}` of a clock at `now` (ms): left counts down unless paused or met; the state follows it. */
export function reading(clock, now = Date.now()) {
  const frozen = clock.state === "paused" || clock.state === "met";
  const elapsed = (now - clock.seenAt) / 1000;
  const left = frozen || !clock.counting ? clock.left : clock.left - elapsed;
  let state = clock.state;
  if (!frozen) {
    const due = clock.dueIn !== null ? elapsed >= clock.dueIn : Number.isFinite(left) && left <= 0;
    if (due) state = "breached";
    else if (state === "running" && clock.warnIn !== null && elapsed >= clock.warnIn) state = "warning";
  }
  return { state: RANK[state] === undefined ? "running" : state, left: state === "breached" ? Math.min(left, 0) : left };
}

/** The most urgent of `clocks` (breached, then warning, then the least time left); null for none. */
export function mostUrgent(clocks, now = Date.now()) {
  let best = null;
  for (const clock of clocks || []) {
    const r = reading(clock, now);
    if (!best || RANK[r.state] < RANK[best.r.state] || (RANK[r.state] === RANK[best.r.state] && r.left < best.r.left)) {
      best = { clock, r };
    }
  }
  return best && best.clock;
}

/** The words of a clock's reading: "First response · 0 min 05 s left · due soon". */
export function clockText(clock, r = reading(clock)) {
  const time = fmtSeconds(Math.abs(r.left));
  const left = r.state === "met" ? "" : r.left < 0 || r.state === "breached" ? t("time.over", { time }) : t("time.left", { time });
  return [targetName(clock.target), left, t(`state.${r.state}`)].filter(Boolean).join(" · ");
}

// -- live nodes ----------------------------------------------------------------------------------------
// Each live node is redrawn every second by its `draw(now)` while it is in the page.
let live = [];
let ticker = null;

/** Keeps `node` redrawn every second by `draw(now)` while it is in the document; draws it now. */
export function keepLive(node, draw) {
  live.push({ node, draw });
  draw(Date.now());
  if (!ticker) ticker = setInterval(tickAll, TICK_MS);
  return node;
}

function tickAll() {
  const now = Date.now();
  live = live.filter((x) => x.node.isConnected);
  for (const x of live) x.draw(now);
}

/** A badge of one clock: icon and words, `data-state` for the colour (styled in clocks.css), counting live. */
export function clockBadge(clock, { testid = "sla-clock" } = {}) {
  const icon = el("span", { class: "clock-icon", "aria-hidden": "true" });
  const text = el("span", { class: "clock-text" });
  const badge = el("span", { class: "sla-clock", "data-testid": testid, "data-target": clock.target }, icon, text);
  return keepLive(badge, (now) => {
    const r = reading(clock, now);
    badge.dataset.state = r.state;
    icon.textContent = ICONS[r.state];
    text.textContent = clockText(clock, r);
    badge.title = clock.targetSeconds ? t("title.target", { target: targetName(clock.target), time: fmtSeconds(clock.targetSeconds) }) : "";
  });
}

/** The badges of a subject's clocks (all, or with `urgentOnly` the most urgent one), in a strip; null for none. */
export function clockStrip(clocks, { urgentOnly = false, testid = "sla-clocks" } = {}) {
  const list = (clocks || []).filter(Boolean);
  if (!list.length) return null;
  const shown = urgentOnly ? [mostUrgent(list)] : list;
  return el("span", { class: "sla-clocks", "data-testid": testid, role: "group", "aria-label": t("clocks.label") },
    shown.map((c) => clockBadge(c)));
}

/** `clocks` of a view (a chat record, summary or ticket) as models; null when the view has none (an older service). */
export function viewClocks(view, seenAt = Date.now()) {
  return view && Array.isArray(view.clocks) ? view.clocks.map((c) => fromView(c, seenAt)) : null;
}

/** Puts the clock an event tells of into `clocks` (replacing that target's), returning the new list. */
export function mergeEventClock(clocks, event, seenAt = Date.now()) {
  const clock = fromEvent(event, seenAt);
  return [...(clocks || []).filter((c) => c.target !== clock.target), clock];
}
