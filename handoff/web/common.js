// Shared by the agent console and the supervisor dashboard: the API client, login, the event
// WebSocket, a DOM builder and formatting. No framework, no build step.
//
// Escaping rule: text reaches the page only through `textContent` (see `el`). Nothing in these
// pages uses innerHTML, so a message such as `<img src=x onerror=alert(1)>` shows as text.

const TOKEN_KEY = "handoff_token";
const AGENT_KEY = "handoff_agent";

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
    throw new ApiError(0, "unreachable", "The handoff service is unreachable. Check your connection and retry.");
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
      err.message || `${method} ${path} failed (HTTP ${response.status})`);
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
      return showLogin(box, app, role, `This page is for ${role}s only: ${me.name} is an ${me.role}.`);
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
    const submit = el("button", { type: "submit", "data-testid": "login-submit" }, "Log in");
    const form = el("form", { class: "card login-form" },
      el("h1", {}, role === "supervisor" ? "Supervisor log-in" : "Agent log-in"),
      el("label", { for: "login-agent" }, "Agent id"), agentInput,
      el("label", { for: "login-password" }, "Password"), passwordInput,
      problem, submit);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      problem.hidden = true;
      try {
        const agent = await login(agentInput.value.trim(), passwordInput.value);
        if (role === "supervisor" && agent.role !== "supervisor") {
          logout({ reload: false });
          throw new Error(`This page is for supervisors only: ${agent.name} is an agent. Use the agent console.`);
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

/** Seconds as "42 s", "3 min 05 s", "2 h 07 min"; "–" for null. */
export function fmtSeconds(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "–";
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** A time as the service sends it: an ISO string, or epoch seconds (a number, as in messages and events). */
export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const d = typeof value === "number" ? new Date(value < 1e11 ? value * 1000 : value) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A time (ISO string or epoch seconds) as local "14:05" (today) or "3 Mar 14:05"; "–" for null. */
export function fmtTime(value) {
  if (value === null || value === undefined || value === "") return "–";
  const d = toDate(value);
  if (!d) return String(value);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

/** Shows a message in the page's `[data-testid=error]` element (or clears it with ""). */
export function showError(message) {
  const box = document.querySelector('[data-testid="error"]');
  if (!box) return;
  box.textContent = message || "";
  box.hidden = !message;
}
