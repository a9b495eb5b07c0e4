// Over 400 lines: the helpers every page loads (catalogs, language switch, time zone, escaping, fetch); one file so each page includes one script.
// Shared by the agent console and the supervisor dashboard: the API client, login, the event
// WebSocket, a DOM builder and formatting. No framework, no build step.
//
// Escaping rule: text reaches the page only through `textContent` (see `el`). Nothing in these
// pages uses innerHTML, so a message such as `<img src=x onerror=alert(1)>` shows as text.

const TOKEN_KEY = "handoff_token";
const AGENT_KEY = "handoff_agent";
const LANG_KEY = "lang"; // localStorage: the language the user chose with the switch
export const LANGS = ["en", "zh"];

// -- language, wording and the page config ------------------------------------------------------------
// Wording lives in catalogs (/web/i18n/<name>.<lang>.json, flat "key": "message {name}"); English is loaded
// beneath the page's language, so a key missing in Chinese shows in English, never as nothing.

/** The page language: the user's switch (localStorage "lang"), else `?lang=`, else the browser's first
 * language (zh* -> zh), else English. */
export function pickLang() {
  let stored = null;
  try { stored = localStorage.getItem(LANG_KEY); } catch { stored = null; }
  if (LANGS.includes(stored)) return stored;
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked && LANGS.includes(String(asked).toLowerCase().split("-")[0])) return String(asked).toLowerCase().split("-")[0];
  const first = String((navigator.languages || [navigator.language])[0] || "en").toLowerCase();
  return first.startsWith("zh") ? "zh" : "en";
}

/** The switch's choice: remembered for every page of this origin, then the page reloads in it. */
export function setLang(lang) {
  try { localStorage.setItem(LANG_KEY, lang); } catch { /* private mode: ?lang= below still carries it */ }
  const url = new URL(location.href);
  url.searchParams.set("lang", lang);
  location.replace(url.toString());
}

async function catalogWords(name, lang) {
  const response = await fetch(`/web/i18n/${name}.${lang}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`the ${name} wording (${lang}) did not load: HTTP ${response.status}`);
  return response.json();
}

/** The words of catalog `name` in `lang` over English. */
export async function loadWords(name, lang = pickLang()) {
  const english = await catalogWords(name, "en");
  return lang === "en" ? english : { ...english, ...(await catalogWords(name, lang).catch(() => ({}))) };
}

/** A translator over `words`: tr(key, {name: value}) fills "{name}"; the key itself when it is missing. */
export const translator = (words) => (key, vars = {}) =>
  String(words[key] ?? key).replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));

let words = {};
/** The page's translator (common catalog + the page's own, after `initPage`). */
export const t = (key, vars = {}) => translator(words)(key, vars);

let zone = "UTC";
let zoneKnown = false;
/** The configured time zone of the pages (policy/skill_groups.yml calendar `timezone`), from /web/config.json. */
export const timeZone = () => zone;

async function loadConfig() {
  try {
    const response = await fetch("/web/config.json", { cache: "no-cache" });
    const config = response.ok ? await response.json() : {};
    if (config && typeof config.timezone === "string" && config.timezone) {
      new Intl.DateTimeFormat("en", { timeZone: config.timezone }); // throws for a zone this browser lacks
      zone = config.timezone;
      zoneKnown = true;
    }
  } catch {
    zoneKnown = false;
  }
  return { timezone: zone, known: zoneKnown };
}

/**
 * Fills the static HTML's wording: `data-i18n` (text), `data-i18n-placeholder`, `data-i18n-aria-label`,
 * `data-i18n-title` hold catalog keys. Text only (textContent / attributes), never markup.
 */
export function translatePage(tr = t, root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = tr(node.dataset.i18n);
  for (const [attr, data] of [["placeholder", "i18nPlaceholder"], ["aria-label", "i18nAriaLabel"], ["title", "i18nTitle"]]) {
    for (const node of root.querySelectorAll(`[data-${attr === "aria-label" ? "i18n-aria-label" : `i18n-${attr}`}]`)) {
      node.setAttribute(attr, tr(node.dataset[data]));
    }
  }
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = tr(title.dataset.i18n);
}

/** The visible EN / 中文 switch, put into `[data-lang-switch]` (or the top bar). */
export function mountLangSwitch() {
  const lang = pickLang();
  const box = document.querySelector("[data-lang-switch]") || document.querySelector(".topbar");
  if (!box) return;
  const group = el("span", { class: "lang-switch", role: "group", "aria-label": t("lang.label"), "data-testid": "lang-switch" },
    LANGS.map((l) => el("button", {
      type: "button", class: l === lang ? "lang-on" : "secondary", lang: l === "zh" ? "zh-CN" : "en",
      "aria-pressed": l === lang ? "true" : "false", "data-testid": `lang-${l}`, onclick: () => { if (l !== lang) setLang(l); },
    }, t(`lang.${l}`))));
  box.appendChild(group);
}

// Every page that imports this module gets the common wording (log-in, durations) and the time zone first
// (a top-level await: the importing modules run after it), so fmtSeconds/fmtTime are right from the start.
words = (await Promise.all([loadWords("common").catch(() => ({})), loadConfig()]))[0];
document.documentElement.lang = pickLang() === "zh" ? "zh-CN" : "en";

/**
 * Starts a page's wording: its own catalog (`name`) over the common one, the static HTML's text and the
 * switch. Resolves to `t`.
 */
export async function initPage(name) {
  const own = name ? await loadWords(name).catch(() => ({})) : {};
  words = { ...words, ...own };
  translatePage(t);
  mountLangSwitch();
  return t;
}

/** An API error: `status` is the HTTP status (0 when the service was unreachable), `code` the JSON error code. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** The logged-in agent as the login answer gave it ({id, name, role, skills, max_chats, status, load}), or null. */
export function currentAgent() {
  try {
    return JSON.parse(sessionStorage.getItem(AGENT_KEY) || "null");
  } catch {
    return null;
  }
}

export function setCurrentAgent(agent) {
  sessionStorage.setItem(AGENT_KEY, JSON.stringify(agent));
}

/**
 * Calls the service with the session's bearer token; resolves to the JSON answer (null for an empty one), or
 * with `withStatus` to `{status, data}` (a 201 and a 200 may mean "made" and "there already"). Rejects with an
 * ApiError whose message is the service's own `error.message`. A 401 drops the token, so the next
 * `requireLogin` shows the login form.
 */
export async function api(path, { method = "GET", body, withStatus = false } = {}) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, "unreachable", t("error.unreachable"));
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = (data && data.error) || {};
    if (response.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    throw new ApiError(response.status, err.code || `http_${response.status}`,
      err.message || t("error.http", { method, path, status: response.status }));
  }
  return withStatus ? { status: response.status, data } : data;
}

/** Logs in; stores the token and the agent. Resolves to the agent. */
export async function login(agentId, password) {
  const data = await api("/v1/agents/login", { method: "POST", body: { agent_id: agentId, password } });
  sessionStorage.setItem(TOKEN_KEY, data.token);
  setCurrentAgent(data.agent);
  return data.agent;
}

/**
 * Ends the session: with `revoke` (an explicit log-out) the service voids the token first
 * (POST /v1/agents/logout; best effort), then it is forgotten and the page reloads to the login form.
 */
export async function logout({ reload = true, revoke = reload } = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (revoke && token) {
    try {
      await fetch("/v1/agents/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` }, keepalive: true });
    } catch {
      // the token is dropped below all the same
    }
  }
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(AGENT_KEY);
  if (reload) location.reload();
}

/**
 * Resolves to the logged-in agent ({id, name, role, ...}) once there is a valid token. Without one it
 * shows the login form in the page's `<div id="login">` (and hides `<main id="app">` when there is
 * one) until the agent logs in. With `role === "supervisor"` an agent's token is refused with a
 * clear message (the form stays, so a supervisor can log in instead).
 */
export async function requireLogin(role) {
  const box = document.getElementById("login");
  const app = document.getElementById("app");
  if (token()) {
    try {
      const me = await api("/v1/agents/me");
      if (!role || role === "agent" || me.role === role) {
        setCurrentAgent(me);
        if (box) box.hidden = true;
        if (app) app.hidden = false;
        return me;
      }
      logout({ reload: false });
      return showLogin(box, app, role, t("login.wrong_role", { name: me.name, role: t(`role.${me.role}`) }));
    } catch (e) {
      if (e.status !== 401) return showLogin(box, app, role, e.message);
    }
  }
  return showLogin(box, app, role, "");
}

function showLogin(box, app, role, message) {
  if (app) app.hidden = true;
  if (!box) throw new Error('the page has no <div id="login">');
  box.hidden = false;
  return new Promise((resolve) => {
    const agentInput = el("input", { id: "login-agent", name: "agent", autocomplete: "username", required: true,
      "data-testid": "login-agent" });
    const passwordInput = el("input", { id: "login-password", name: "password", type: "password",
      autocomplete: "current-password", required: true, "data-testid": "login-password" });
    const problem = el("p", { class: "error", role: "alert", "data-testid": "login-error" }, message);
    problem.hidden = !message;
    const submit = el("button", { type: "submit", "data-testid": "login-submit" }, t("login.submit"));
    const form = el("form", { class: "card login-form" },
      el("h1", {}, role === "supervisor" ? t("login.title_supervisor") : t("login.title_agent")),
      el("label", { for: "login-agent" }, t("login.agent_id")), agentInput,
      el("label", { for: "login-password" }, t("login.password")), passwordInput,
      problem, submit);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      problem.hidden = true;
      try {
        const agent = await login(agentInput.value.trim(), passwordInput.value);
        if (role === "supervisor" && agent.role !== "supervisor") {
          logout({ reload: false });
          throw new Error(t("login.supervisors_only", { name: agent.name }));
        }
        box.hidden = true;
        box.replaceChildren();
        if (app) app.hidden = false;
        resolve(agent);
      } catch (e) {
        problem.textContent = e.message;
        problem.hidden = false;
        passwordInput.value = "";
        passwordInput.focus();
      } finally {
        submit.disabled = false;
      }
    });
    box.replaceChildren(form);
    agentInput.focus();
  });
}

/**
 * Opens the event WebSocket (`/v1/agents/me/stream`), sends `{"token"}` first, and calls
 * `onEvent(event)` for each event (the first is `{"type": "snapshot", agent, handoffs}`). Reconnects
 * with backoff (0.5 s doubling to 15 s, reset after a good connection); a fresh snapshot follows
 * every reconnect. `onState(state, message)` if given, state being "open", "closed" (reconnecting),
 * "unauthorized" (4401: the token expired or is invalid; it is dropped) or "forbidden" (4403: this
 * page's origin or this token may not open the stream); message is the service's reason, if any.
 * Neither 4401 nor 4403 reconnects. Returns `{close()}`.
 */
export function connectEvents(onEvent, { onState = () => {} } = {}) {
  let ws = null;
  let delay = 500;
  let stopped = false;
  let timer = null;
  let reason = "";
  const open = () => {
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${scheme}//${location.host}/v1/agents/me/stream`);
    ws.addEventListener("open", () => {
      reason = "";
      ws.send(JSON.stringify({ token: token() || "" }));
    });
    ws.addEventListener("message", (m) => {
      let event;
      try {
        event = JSON.parse(m.data);
      } catch {
        return;
      }
      if (event.type === "snapshot") {
        delay = 500;
        onState("open", "");
      }
      if (event.type === "error") {
        reason = (event.error && event.error.message) || "";
        return;
      }
      try {
        onEvent(event);
      } catch (e) {
        console.error("event handler failed", e);
      }
    });
    ws.addEventListener("close", (c) => {
      ws = null;
      if (stopped) return;
      if (c.code === 4401) {
        sessionStorage.removeItem(TOKEN_KEY);
        onState("unauthorized", reason);
        return;
      }
      if (c.code === 4403) {
        onState("forbidden", reason);
        return;
      }
      onState("closed", reason);
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  open();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
  };
}

/**
 * Builds a DOM element. `attrs`: attributes (strings); `class`; `dataset` (object); `on` handlers as
 * `onclick` etc. (functions); `hidden`/`disabled`/`checked`/`value`/`selected` as properties.
 * Children: nodes, strings or numbers (set as text nodes, never parsed as HTML), null/false skipped,
 * arrays flattened.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (["hidden", "disabled", "checked", "value", "selected", "required"].includes(key)) {
      node[key] = value;
    } else if (key === "style" || key === "html" || key === "innerHTML") {
      throw new Error(`el(): ${key} is not allowed (CSP and the escaping rule): use classes and text`);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

/** Seconds as "42 s", "3 min 05 s", "2 h 07 min" (in the page's language: "3 分 05 秒"); "–" for null. */
export function fmtSeconds(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "–";
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return t("time.s", { s });
  if (s < 3600) return t("time.min_s", { min: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
  return t("time.h_min", { h: Math.floor(s / 3600), min: String(Math.floor((s % 3600) / 60)).padStart(2, "0") });
}

/** A time as the service sends it: an ISO string, or epoch seconds (a number, as in messages and events). */
export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const d = typeof value === "number" ? new Date(value < 1e11 ? value * 1000 : value) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

const locale = () => (pickLang() === "zh" ? "zh-CN" : "en-GB");
const dayKey = (d) => new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);

/**
 * A time (ISO string or epoch seconds) as "14:05" (today) or "3 Mar 14:05" / "3月3日 14:05", in the configured
 * zone (the business calendar's, not this browser's: agents abroad see the shop's hours); "–" for null.
 */
export function fmtTime(value) {
  if (value === null || value === undefined || value === "") return "–";
  const d = toDate(value);
  if (!d) return String(value);
  const time = new Intl.DateTimeFormat(locale(), { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(d);
  if (dayKey(d) === dayKey(new Date())) return time;
  return `${new Intl.DateTimeFormat(locale(), { timeZone: zone, day: "numeric", month: "short" }).format(d)} ${time}`;
}

/** Shows a message in the page's `[data-testid=error]` element (or clears it with ""). */
export function showError(message) {
  const box = document.querySelector('[data-testid="error"]');
  if (!box) return;
  box.textContent = message || "";
  box.hidden = !message;
}
