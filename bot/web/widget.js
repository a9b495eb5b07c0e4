/*
 * Brightcart chat widget. Vanilla JS, no build step; needs vendor/socket.io.min.js loaded first.
 * Why one file over 400 lines: shops embed the widget as one script tag.
 *
 * It speaks the Rasa web-chat socket.io protocol, like rasa-webchat:
 *   connect          -> emit session_request {session_id: <stored handle or null>[, customData]}
 *   session_confirm  <- the conversation handle (kept in localStorage "brightcart_chat_session:<who>")
 *   user_uttered     -> {message, session_id, message_id[, customData]}, acknowledged by the server:
 *                       {status: "stored"|"duplicate"} once it is in the conversation's tracker
 *   bot_uttered      <- {text, quick_replies|buttons?, message_id?, agent?, agent_name?, notice?, handoff?,
 *                        queue_position?}
 *   typing           <- optional: show the typing indicator
 *
 * Who is talking: a message with `notice: true` is a system notice; one with `agent` / `agent_name` is a
 * person from the team; anything else is the assistant. Every text is set with textContent.
 * A message whose `message_id` is already on screen is dropped (the server delivers at least once: a retry,
 * or the history after a reconnect, may bring it again).
 *
 * A message the customer typed stays in the outbox (sessionStorage), marked "sending…", until the server
 * acknowledges it; the widget sends one at a time, in order, and sends it again (same `message_id`, which the
 * server stores once) after a reconnect or when no acknowledgement came within ACK_MS.
 *
 * Script tag options (data-*): data-open="false" starts minimised; data-socket-url / data-socket-path to
 * talk to another server (which must list this page's origin in CHAT_ALLOWED_ORIGINS);
 * data-customer-token: the shop's signed customer token, sent as customData.customer_token.
 *
 * Language (en, zh): the customer's switch in the header (localStorage "lang"), else the page's `?lang=`, else the
 * browser's first language (zh* -> zh), else English. Every visible word comes from i18n/widget.<lang>.json
 * (next to this script; English beneath, so a missing key shows in English); the widget starts once it is in.
 * Each message carries the page language as message metadata (`customData.language`, which the socket.io
 * channel passes on as the message's metadata): the assistant answers in it when the text does not decide.
 *
 * A shared browser: what the widget stores is kept per signed-in customer ("<who>": a hash of the token's
 * customer id, or "guest"), and on load it forgets what it stored for anyone else. The server is what makes
 * this safe: it binds each handle to the customer of the token and gives anyone else a new conversation.
 */
(function () {
  "use strict";

  var SESSION_PREFIX = "brightcart_chat_session"; // localStorage: the conversation handle
  var HISTORY_PREFIX = "brightcart_chat_history"; // sessionStorage: what the window shows, for a reload
  var OUTBOX_PREFIX = "brightcart_chat_outbox"; // sessionStorage: messages typed but not sent yet
  var OPEN_KEY = "brightcart_chat_open"; // sessionStorage: "0" when the customer minimised the window
  var TYPING_MS = 10000;
  var ACK_MS = 20000; // no acknowledgement by then: send the message again
  var RETRY_MS = 2000; // after a refusal ("failed": e.g. the server's Redis is down) try again this much later
  var MAX_LINES = 200;
  var MAX_CHARS = 2000;
  var LANGS = ["en", "zh"];
  var LANG_KEY = "lang"; // localStorage: the language the customer chose (shared with the shop page)
  var SUGGESTION_KEYS = ["suggest.order", "suggest.returns", "suggest.shipping", "suggest.person"];

  var script = document.currentScript;
  var options = (script && script.dataset) || {};

  // ---- language and wording ----------------------------------------------------------------------
  function pickLang() {
    var stored = null;
    try { stored = window.localStorage.getItem(LANG_KEY); } catch (e) { stored = null; }
    if (LANGS.indexOf(stored) >= 0) return stored;
    var asked = String(new URLSearchParams(location.search).get("lang") || "").toLowerCase().split("-")[0];
    if (LANGS.indexOf(asked) >= 0) return asked;
    var first = String((navigator.languages || [navigator.language])[0] || "en").toLowerCase();
    return first.indexOf("zh") === 0 ? "zh" : "en";
  }
  var LANG = pickLang();
  var WORDS = {};
  /** The catalog's message for `key` with "{name}" filled from `vars`; the key itself when it is missing. */
  function t(key, vars) {
    var text = Object.prototype.hasOwnProperty.call(WORDS, key) ? String(WORDS[key]) : key;
    return text.replace(/\{(\w+)\}/g, function (m, name) {
      return vars && Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m;
    });
  }
  function chooseLang(lang) {
    try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* private mode */ }
    var url = new URL(location.href);
    url.searchParams.set("lang", lang);
    location.replace(url.toString()); // the history and the outbox survive the reload (sessionStorage)
  }
  var CATALOG_BASE = (script && script.src) || location.href;
  function fetchWords(lang) {
    return fetch(new URL("i18n/widget." + lang + ".json", CATALOG_BASE).toString(), { cache: "no-cache" })
      .then(function (r) {
        if (!r.ok) throw new Error("the widget's wording (" + lang + ") did not load: HTTP " + r.status);
        return r.json();
      });
  }

  // ---- storage (may be unavailable: private modes, blocked cookies) ----------------------------------
  function storage(name) {
    try {
      var s = window[name];
      var probe = "__brightcart_probe__";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) {
      return null;
    }
  }
  var local = storage("localStorage");
  var tab = storage("sessionStorage");

  // Who is signed in: the `sub` of the shop's token (read, not verified: the server verifies), hashed
  // (FNV-1a) so that the storage keys do not show the customer id.
  function customerKey(token) {
    try {
      var part = String(token || "").split(".")[1];
      if (!part) return "guest";
      var claims = JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
      if (!claims || claims.sub === undefined || claims.sub === null) return "guest";
      var hash = 0x811c9dc5, sub = String(claims.sub);
      for (var i = 0; i < sub.length; i++) {
        hash ^= sub.charCodeAt(i);
        hash = (hash + ((hash << 1) + (hash << 4) + (hash << 7) + (hash << 8) + (hash << 24))) >>> 0;
      }
      return "c" + hash.toString(16);
    } catch (e) {
      return "guest";
    }
  }
  var WHO = customerKey(options.customerToken);
  var SESSION_KEY = SESSION_PREFIX + ":" + WHO;
  var HISTORY_KEY = HISTORY_PREFIX + ":" + WHO;
  var OUTBOX_KEY = OUTBOX_PREFIX + ":" + WHO;

  // Forget what this browser kept for another shopper (and the unkeyed entries of older versions).
  function forgetOthers(store, prefix, mine) {
    if (!store) return;
    try {
      var stale = [];
      for (var i = 0; i < store.length; i++) {
        var key = store.key(i);
        if (key && key !== mine && (key === prefix || key.indexOf(prefix + ":") === 0)) stale.push(key);
      }
      stale.forEach(function (key) { store.removeItem(key); });
    } catch (e) { /* ignore */ }
  }
  forgetOthers(local, SESSION_PREFIX, SESSION_KEY);
  forgetOthers(tab, HISTORY_PREFIX, HISTORY_KEY);
  forgetOthers(tab, OUTBOX_PREFIX, OUTBOX_KEY);

  function readJSON(store, key, fallback) {
    if (!store) return fallback;
    try {
      var raw = store.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch (e) {
      return fallback;
    }
  }
  function writeJSON(store, key, value) {
    if (!store) return;
    try { store.setItem(key, JSON.stringify(value)); } catch (e) { /* full: keep going */ }
  }
  function storedHandle() {
    try { return (local && local.getItem(SESSION_KEY)) || null; } catch (e) { return null; }
  }
  function storeHandle(handle) {
    try { if (local) local.setItem(SESSION_KEY, handle); } catch (e) { /* ignore */ }
  }

  // ---- state -------------------------------------------------------------------------------------
  var saved = readJSON(tab, HISTORY_KEY, {}) || {};
  var state = {
    handle: typeof saved.handle === "string" ? saved.handle : null,
    lines: Array.isArray(saved.lines) ? saved.lines.filter(validLine) : [],
    mode: ["bot", "waiting", "agent"].indexOf(saved.mode) >= 0 ? saved.mode : "bot",
    agentName: typeof saved.agentName === "string" ? saved.agentName : null,
    queueText: typeof saved.queueText === "string" ? saved.queueText : null,
    nextId: typeof saved.nextId === "number" ? saved.nextId : 1,
    // How many lines of the conversation (the customer's sent messages and the server's messages) this
    // window has had: after a reconnect the server's count says what arrived while it was offline.
    seen: typeof saved.seen === "number" ? saved.seen : 0
  };
  var awaitingHistory = false;
  var outbox = readJSON(tab, OUTBOX_KEY, []);
  if (!Array.isArray(outbox)) outbox = [];
  outbox = outbox.filter(function (item) { return item && typeof item.message === "string"; });
  outbox.forEach(function (item) { if (typeof item.id !== "string") item.id = newMessageId(); });
  var inFlight = null; // the outbox's first message while it waits for its acknowledgement
  var confirmed = false; // the socket is connected and its session confirmed: messages may go out
  var typingTimer = null;

  // The client's id of a message (a UUID): the server stores a message with an id it holds already only once.
  function newMessageId() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    var bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function validLine(line) {
    return line && typeof line === "object" && typeof line.text === "string" &&
      ["customer", "bot", "agent", "system"].indexOf(line.speaker) >= 0;
  }
  function save() {
    if (state.lines.length > MAX_LINES) state.lines = state.lines.slice(-MAX_LINES);
    writeJSON(tab, HISTORY_KEY, state);
    writeJSON(tab, OUTBOX_KEY, outbox);
  }

  // ---- DOM helpers: text only, never HTML -----------------------------------------------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        if (attrs[name] !== null && attrs[name] !== undefined) node.setAttribute(name, String(attrs[name]));
      });
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- the widget (built once its wording is in) ---------------------------------------------------
  function boot() {
  var BOT_NAME = t("bot.name");
  var root = el("div", { "class": "bc-chat" });
  var launcher = el("button", {
    "class": "bc-launcher", type: "button", "data-testid": "chat-open",
    "aria-controls": "bc-window", "aria-expanded": "false"
  });
  launcher.appendChild(el("span", { "class": "bc-launcher-dot", "aria-hidden": "true" }));
  launcher.appendChild(el("span", null, t("launcher")));

  var win = el("section", {
    id: "bc-window", "class": "bc-window", "data-testid": "chat-window",
    role: "dialog", "aria-label": t("window.label"), lang: LANG === "zh" ? "zh-CN" : "en"
  });
  var head = el("header", { "class": "bc-head" });
  var avatar = el("div", { "class": "bc-avatar", "aria-hidden": "true" }, "B");
  var heading = el("div", { "class": "bc-heading" });
  var title = el("div", { "class": "bc-title" }, t("title"));
  var sub = el("div", { "class": "bc-sub", "data-testid": "chat-with" }, BOT_NAME);
  heading.appendChild(title);
  heading.appendChild(sub);
  var closeButton = el("button", {
    "class": "bc-close", type: "button", "data-testid": "chat-close", "aria-label": t("close.label")
  }, "\u2013");
  // The language switch: shows the other language, in that language ("中文" / "EN").
  var otherLang = LANG === "zh" ? "en" : "zh";
  var langButton = el("button", {
    "class": "bc-lang", type: "button", "data-testid": "chat-lang", lang: otherLang === "zh" ? "zh-CN" : "en",
    "aria-label": t("lang.switch_label", { language: t("lang.name_" + otherLang) })
  }, t("lang.short_" + otherLang));
  langButton.addEventListener("click", function () { chooseLang(otherLang); });
  head.appendChild(avatar);
  head.appendChild(heading);
  head.appendChild(langButton);
  head.appendChild(closeButton);

  var banner = el("div", {
    "class": "bc-banner", "data-testid": "connection-banner", role: "status", hidden: ""
  }, t("reconnecting"));
  var queueStatus = el("div", { "class": "bc-queue", "data-testid": "queue-status", role: "status", hidden: "" });

  var body = el("div", { "class": "bc-body" });
  var empty = el("div", { "class": "bc-empty" });
  empty.appendChild(el("p", null, t("welcome")));
  var suggestions = el("div", { "class": "bc-suggestions" });
  SUGGESTION_KEYS.forEach(function (key) {
    var text = t(key);
    var b = el("button", { "class": "bc-suggestion", type: "button", "data-testid": "suggestion" }, text);
    b.addEventListener("click", function () { send(text, text); });
    suggestions.appendChild(b);
  });
  empty.appendChild(suggestions);
  var log = el("ol", { "class": "bc-log", role: "log", "aria-live": "polite", "aria-label": t("log.label") });
  var typing = el("div", { "class": "bc-typing", "data-testid": "typing", hidden: "" });
  typing.appendChild(el("span", { "aria-hidden": "true" }));
  typing.appendChild(el("span", { "aria-hidden": "true" }));
  typing.appendChild(el("span", { "aria-hidden": "true" }));
  typing.appendChild(el("span", { "class": "bc-sr-only" }, t("typing")));
  body.appendChild(empty);
  body.appendChild(log);
  body.appendChild(typing);

  var form = el("form", { "class": "bc-compose" });
  var input = el("textarea", {
    "class": "bc-input", "data-testid": "chat-input", rows: "1", maxlength: String(MAX_CHARS),
    placeholder: t("input.placeholder"), "aria-label": t("input.label"), autocomplete: "off"
  });
  var sendButton = el("button", { "class": "bc-send", type: "submit", "data-testid": "chat-send" }, t("send"));
  form.appendChild(input);
  form.appendChild(sendButton);
  var foot = el("div", { "class": "bc-foot" }, t("foot"));

  win.appendChild(head);
  win.appendChild(banner);
  win.appendChild(queueStatus);
  win.appendChild(body);
  win.appendChild(form);
  win.appendChild(foot);
  root.appendChild(win);
  root.appendChild(launcher);

  // ---- rendering ---------------------------------------------------------------------------------
  function speakerKey(line) {
    return line.speaker === "agent" ? "agent:" + (line.agentName || "") : line.speaker;
  }

  function renderLine(line, previous) {
    var item = el("li", { "class": "bc-line bc-" + line.speaker + (line.pending ? " bc-pending" : "") });
    item.setAttribute("data-line", String(line.id));
    var shown = line.speaker === "bot" ? BOT_NAME : line.speaker === "agent" ? line.agentName || t("agent") : null;
    if (shown && (!previous || speakerKey(previous) !== speakerKey(line))) {
      item.appendChild(el("div", { "class": "bc-who" }, shown));
    }
    var text = el("div", {
      "class": "bc-text", "data-testid": "message", "data-speaker": line.speaker,
      "data-agent-name": line.speaker === "agent" ? line.agentName || "" : null,
      "data-pending": line.pending ? "true" : null
    }, line.text);
    item.appendChild(text);
    if (line.replies && line.replies.length && !line.answered) {
      var replies = el("div", { "class": "bc-replies", role: "group", "aria-label": t("replies.label") });
      line.replies.forEach(function (reply) {
        var b = el("button", { "class": "bc-reply", type: "button", "data-testid": "quick-reply" }, reply.title);
        b.addEventListener("click", function () { send(reply.payload, reply.title); });
        replies.appendChild(b);
      });
      item.appendChild(replies);
    }
    if (line.pending) item.appendChild(el("div", { "class": "bc-status", "data-testid": "message-status" }, t("sending")));
    return item;
  }

  function renderAll() {
    while (log.firstChild) log.removeChild(log.firstChild);
    state.lines.forEach(function (line, i) { log.appendChild(renderLine(line, state.lines[i - 1])); });
    empty.hidden = state.lines.length > 0;
    renderStatus();
  }

  function appendLine(line) {
    line.id = state.nextId++;
    var previous = state.lines[state.lines.length - 1];
    state.lines.push(line);
    log.appendChild(renderLine(line, previous));
    empty.hidden = true;
    if (state.lines.length > MAX_LINES) {
      state.lines = state.lines.slice(-MAX_LINES);
      if (log.firstChild) log.removeChild(log.firstChild);
    }
    save();
    scrollDown();
    return line;
  }

  function rerenderLine(line) {
    var node = log.querySelector('[data-line="' + line.id + '"]');
    if (!node) return;
    var index = state.lines.indexOf(line);
    node.replaceWith(renderLine(line, state.lines[index - 1]));
  }

  function scrollDown() {
    body.scrollTop = body.scrollHeight;
  }

  function renderStatus() {
    queueStatus.hidden = !state.queueText;
    queueStatus.textContent = state.queueText || "";
    if (state.mode === "agent" && state.agentName) {
      sub.textContent = t("status.agent", { name: state.agentName });
      avatar.textContent = state.agentName.charAt(0).toUpperCase();
      avatar.classList.add("bc-avatar-agent");
    } else {
      sub.textContent = state.mode === "waiting" ? t("status.waiting", { bot: BOT_NAME }) : BOT_NAME;
      avatar.textContent = "B";
      avatar.classList.remove("bc-avatar-agent");
    }
  }

  // ---- typing indicator --------------------------------------------------------------------------
  function showTyping() {
    typing.hidden = false;
    scrollDown();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_MS);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typing.hidden = true;
  }

  // ---- opening and closing -----------------------------------------------------------------------
  function setOpen(open, focus) {
    win.hidden = !open;
    root.classList.toggle("bc-open", open);
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (tab) { try { tab.setItem(OPEN_KEY, open ? "1" : "0"); } catch (e) { /* ignore */ } }
    if (open) {
      scrollDown();
      if (focus) input.focus();
    }
  }
  // The launcher always opens (it never closes the window): minimising is the header's button.
  launcher.addEventListener("click", function () { setOpen(true, true); });
  closeButton.addEventListener("click", function () { setOpen(false); launcher.focus(); });

  // ---- sending -----------------------------------------------------------------------------------
  function closeReplies() {
    state.lines.forEach(function (line) {
      if (line.replies && line.replies.length && !line.answered) {
        line.answered = true;
        rerenderLine(line);
      }
    });
  }

  // `message` goes to the server; `shown` is the customer's line (a quick reply's title).
  function send(message, shown) {
    message = String(message || "").trim();
    if (!message) return;
    closeReplies();
    var id = newMessageId();
    var line = appendLine({ speaker: "customer", text: String(shown || message), pending: true, messageId: id });
    outbox.push({ line: line.id, message: message.slice(0, MAX_CHARS), id: id });
    save();
    flush();
  }

  // Send the outbox's first message, unless one waits for its acknowledgement: one at a time, in order.
  function flush() {
    if (inFlight || !outbox.length || !confirmed || !socket.connected || awaitingHistory) return;
    var item = outbox[0];
    var attempt = { id: item.id, timer: null };
    inFlight = attempt;
    var data = { message: item.message, session_id: state.handle, message_id: item.id };
    // customData is the message's metadata on the server (bot/channels/payload.py): the page language rides along
    data.customData = { language: LANG };
    if (options.customerToken) data.customData.customer_token = options.customerToken;
    attempt.timer = setTimeout(function () { settle(attempt, null); }, ACK_MS);
    socket.emit("user_uttered", data, function (ack) { settle(attempt, ack); });
    // The assistant answers in a moment; a person may take minutes, so no indicator while one has the chat.
    if (state.mode === "bot") showTyping();
  }

  // The server's acknowledgement of an attempt (null: none came in time).
  function settle(attempt, ack) {
    var status = ack && typeof ack === "object" ? ack.status : null;
    if (inFlight === attempt) {
      clearTimeout(attempt.timer);
      inFlight = null;
    }
    if (status === "stored" || status === "duplicate") {
      if (sent(attempt.id)) state.seen++;
    } else if (status === "refused") {
      sent(attempt.id); // it can never be taken (the server said why in a notice): not sent again
    } else {
      if (!inFlight) setTimeout(flush, RETRY_MS);
      return;
    }
    save();
    flush();
  }

  // The message left the outbox for good: no longer pending. False if it had already.
  function sent(id) {
    var index = -1;
    outbox.forEach(function (item, i) { if (index < 0 && item.id === id) index = i; });
    if (index < 0) return false;
    var item = outbox.splice(index, 1)[0];
    var line = state.lines.filter(function (l) { return l.id === item.line; })[0];
    if (line) {
      line.pending = false;
      rerenderLine(line);
    }
    return true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text, text);
    input.focus();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  // ---- receiving ---------------------------------------------------------------------------------
  function field(message, name) {
    if (message[name] !== undefined && message[name] !== null) return message[name];
    var meta = message.metadata;
    return meta && typeof meta === "object" && meta[name] !== undefined ? meta[name] : undefined;
  }

  function repliesOf(message) {
    var raw = Array.isArray(message.quick_replies) ? message.quick_replies
      : Array.isArray(message.buttons) ? message.buttons : [];
    return raw.filter(function (r) {
      return r && typeof r === "object" && (typeof r.title === "string" || typeof r.payload === "string");
    }).map(function (r) {
      var title = typeof r.title === "string" ? r.title : String(r.payload);
      return { title: title, payload: typeof r.payload === "string" ? r.payload : title };
    });
  }

  function followHandoff(message, isNotice, agentName) {
    var status = field(message, "handoff");
    var position = Number(field(message, "queue_position"));
    if (position > 0) {
      state.mode = "waiting";
      state.queueText = t("queue.position", { position: position });
    } else if (status === "connecting") {
      state.mode = "waiting";
      state.queueText = t("queue.connecting");
    } else if (status === "transferred") {
      state.mode = "waiting";
      state.queueText = t("queue.transferred");
      state.agentName = null;
    } else if (status === "delayed") {
      state.mode = "waiting";
      state.queueText = null;
    } else if (status === "joined" || (!isNotice && agentName)) {
      state.mode = "agent";
      state.queueText = null;
      if (agentName) state.agentName = String(agentName);
    } else if (["released", "closed", "ticket", "failed"].indexOf(status) >= 0) {
      state.mode = "bot";
      state.queueText = null;
      state.agentName = null;
    }
    renderStatus();
  }

  function messageIdOf(value) {
    return typeof value === "string" && value ? value : undefined;
  }
  function alreadyShown(messageId) {
    return !!messageId && state.lines.some(function (l) { return l.messageId === messageId; });
  }

  function onBotUttered(message) {
    if (!message || typeof message !== "object") return;
    hideTyping();
    var messageId = messageIdOf(field(message, "message_id"));
    if (alreadyShown(messageId)) return; // a repeat: shown and counted once
    var isNotice = field(message, "notice") === true;
    var agent = field(message, "agent_name") || field(message, "agent");
    followHandoff(message, isNotice, agent);
    var text = typeof message.text === "string" ? message.text : "";
    var replies = repliesOf(message);
    if (!text && !replies.length) { save(); return; }
    var speaker = isNotice ? "system" : agent ? "agent" : "bot";
    state.seen++;
    appendLine({
      speaker: speaker, text: text, agentName: speaker === "agent" ? String(agent) : undefined, replies: replies,
      messageId: messageId
    });
  }

  // ---- the connection ----------------------------------------------------------------------------
  function showBanner() { banner.hidden = false; }
  function hideBanner() { banner.hidden = true; }

  var socket = typeof window.io === "function" ? window.io(options.socketUrl || undefined, {
    path: options.socketPath || "/socket.io",
    transports: ["websocket", "polling"],
    tryAllTransports: true, // a proxy that refuses WebSockets: long-polling instead
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000
  }) : null;
  if (!socket) { // the socket.io client did not load: say so rather than fail silently
    banner.textContent = t("load_failed");
    showBanner();
    socket = { connected: false, on: function () {}, emit: function () {}, connect: function () {} };
  }

  socket.on("connect", function () {
    hideBanner();
    // A reconnect too: the server continues the conversation for a genuine handle.
    var request = { session_id: storedHandle() || state.handle };
    if (options.customerToken) request.customData = { customer_token: options.customerToken };
    socket.emit("session_request", request);
  });

  socket.on("session_confirm", function (data) {
    var handle = typeof data === "string" ? data : data && typeof data.session_id === "string" ? data.session_id : null;
    if (!handle) return;
    var previous = storedHandle() || state.handle;
    if (previous && previous !== handle && state.lines.some(function (l) { return !l.pending; })) {
      // The server started a new conversation (the old handle is no longer valid): it knows nothing of the
      // lines above, so they go; what is still waiting to be sent goes to the new conversation.
      state.lines = state.lines.filter(function (l) { return l.pending; });
      state.mode = "bot";
      state.agentName = null;
      state.queueText = null;
      renderAll();
      appendLine({ speaker: "system", text: t("new_conversation") });
    }
    var resumed = previous === handle && state.seen > 0;
    storeHandle(handle);
    state.handle = handle;
    confirmed = true;
    save();
    if (!resumed) { flush(); return; }
    // Back after a drop or a reload: first show what arrived meanwhile, then send what waits here.
    awaitingHistory = true;
    socket.emit("history_request", {});
    setTimeout(function () { if (awaitingHistory) { awaitingHistory = false; flush(); } }, 3000);
  });

  socket.on("history", function (data) {
    if (!awaitingHistory) return;
    awaitingHistory = false;
    var total = data && typeof data.total === "number" ? data.total : 0;
    var lines = data && Array.isArray(data.lines) ? data.lines : [];
    var missing = Math.min(total - state.seen, lines.length);
    if (missing > 0) {
      lines.slice(-missing).forEach(function (line) {
        // One of ours that the server stored but could not acknowledge (e.g. it restarted): sent, shown already.
        if (line && line.speaker === "customer" && messageIdOf(line.message_id)) sent(line.message_id);
        if (!validLine(line) || alreadyShown(messageIdOf(line.message_id))) return;
        appendLine({ speaker: line.speaker, text: line.text, messageId: messageIdOf(line.message_id),
          agentName: line.speaker === "agent" ? String(line.agent_name || t("agent")) : undefined });
      });
    }
    if (total > state.seen) state.seen = total;
    save();
    flush();
  });

  socket.on("bot_uttered", onBotUttered);
  socket.on("typing", function (data) {
    if (data && typeof data === "object" && data.typing === false) hideTyping();
    else showTyping();
  });

  socket.on("disconnect", function (reason) {
    confirmed = false;
    if (inFlight) { // no acknowledgement will come on this connection: sent again after the reconnect
      clearTimeout(inFlight.timer);
      inFlight = null;
    }
    hideTyping();
    showBanner();
    // The server closed the socket (not the network): reconnect ourselves, the client will not.
    if (reason === "io server disconnect") socket.connect();
  });
  socket.on("connect_error", function () {
    confirmed = false;
    showBanner();
  });

  // ---- start -------------------------------------------------------------------------------------
  function mount() {
    document.body.appendChild(root);
    renderAll();
    var remembered = null;
    try { remembered = tab && tab.getItem(OPEN_KEY); } catch (e) { /* ignore */ }
    setOpen(remembered ? remembered === "1" : options.open !== "false", false);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
  } // boot

  var english = {};
  fetchWords("en")
    .then(function (words) { english = words; return LANG === "en" ? {} : fetchWords(LANG).catch(function () { return {}; }); })
    .then(function (own) { WORDS = Object.assign({}, english, own); })
    .catch(function (e) { if (window.console) console.error(e); WORDS = english; })
    .then(boot);
})();
