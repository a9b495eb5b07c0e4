// The agent console: offers, my chats side by side, the transcript and case brief of the selected
// one, replies, canned responses, internal notes, transfer, release, a follow-up ticket and close.
//
// Data: the WebSocket (/v1/agents/me/stream: a snapshot, then events) drives everything live; the
// queues are also polled every 5 s; a chat's record (GET /v1/handoffs/{id}) is loaded when it
// becomes mine and again after every reconnect (to fill what the gap missed). Messages and notes
// from events and from our own POSTs are merged by their seq / id, so nothing shows twice.
// Text reaches the page only through `el` (textContent): a customer's "<img onerror=...>" is text.
// Why over 400 lines: the Chats view's parts share one state (the chats, the selection, the socket); the case
// brief (console_brief.js), the offers (console_offers.js), the clocks (console_clocks.js), the Tickets view, the
// ticket page and the follow-up box (tickets.js, ticket_page.js, chat_ticket.js) are split out.
import { ApiError, api, connectEvents, el, fmtSeconds, fmtTime, initPage, logout, pickLang, requireLogin, showError, t, toDate } from "/web/common.js";
import { mountTickets } from "/web/tickets.js";
import { mountChatTicket } from "/web/chat_ticket.js";
import { loadWords } from "/web/clocks.js";
import { mountConsoleClocks } from "/web/console_clocks.js";
import { chatLanguage, humanize, renderBrief as drawBrief } from "/web/console_brief.js";
import { mountOffers } from "/web/console_offers.js";

const QUEUE_POLL_MS = 5000;
const ERROR_MS = 10000;
let BASE_TITLE = document.title; // set again once the wording is in (main)

const $ = (id) => document.getElementById(id);
/** replaceChildren without the nulls (replaceChildren itself would show them as the text "null"). */
const setChildren = (node, ...children) => node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));

const state = {
  me: null,
  meta: { skill_groups: [], wrap_up_codes: [], canned_responses: [], reservation_seconds: 30 },
  groupNames: {},
  chats: new Map(), // escalation id -> chat (see newChat)
  order: [], // escalation ids in the list's order (oldest first)
  selected: null,
  skewMs: 0, // server clock minus ours, from the events' `at`
  tickets: null, // the Tickets view (tickets.js): {onEvent, refresh, show, open, t}
  followUp: null, // "Follow up as a ticket" for the selected chat (chat_ticket.js): {show}
  clocks: null, // SLA clocks, alerts and the standby banner (console_clocks.js)
};

// -- small helpers -------------------------------------------------------------------------------
const groupName = (id) => state.groupNames[id] || String(id ?? "");
const isMine = (event) => !!state.me && event.agent === state.me.id;

let errorTimer = null;
function fail(e) {
  const message = e instanceof Error ? e.message : String(e);
  showError(message);
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => showError(""), ERROR_MS);
  if (e instanceof ApiError && e.status === 401) setTimeout(() => location.reload(), 1500);
}

// -- chats ---------------------------------------------------------------------------------------
function newChat(summary) {
  return {
    id: summary.id,
    conversation_id: summary.conversation_id,
    skill_group: summary.skill_group,
    priority: summary.priority,
    status: summary.status,
    created_at: summary.created_at,
    record: null,
    messages: new Map(), // seq -> message
    notes: new Map(), // id -> note
    unread: 0,
    ended: null, // why it is no longer mine ("Closed", "Released to the bot", ...)
    clocks: [], // its SLA clocks (clocks.js models), from its record and the sla_* events
    draft: "",
  };
}

function addChat(summary) {
  let chat = state.chats.get(summary.id);
  if (!chat) {
    chat = newChat(summary);
    state.chats.set(chat.id, chat);
    state.order.push(chat.id);
  } else {
    Object.assign(chat, { status: summary.status, skill_group: summary.skill_group, ended: null });
  }
  loadRecord(chat);
  return chat;
}

async function loadRecord(chat) {
  try {
    const record = await api(`/v1/handoffs/${encodeURIComponent(chat.id)}`);
    chat.record = record;
    chat.status = record.status;
    chat.skill_group = record.skill_group;
    chat.priority = record.priority;
    if (state.clocks) state.clocks.fromRecord(chat, record);
    for (const m of record.messages || []) chat.messages.set(m.seq, m);
    for (const n of record.notes || []) chat.notes.set(n.id, n);
    if (record.status !== "assigned" && record.status !== "offered" && !chat.ended) {
      chat.ended = endedLabel(record.status);
    }
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 404)) {
      chat.ended = chat.ended || t("ended.not_yours");
    } else {
      fail(e);
    }
  }
  renderChatList();
  if (state.selected === chat.id) renderSelected();
}

function endedLabel(type, event = {}) {
  switch (type) {
    case "closed": return t("ended.closed");
    case "released": return t("ended.released");
    case "abandoned": return t("ended.abandoned");
    case "ticket": return t("ended.ticket");
    case "transferred": return t("ended.transferred", { to: event.agent ? event.agent : groupName(event.group) });
    case "requeued": return t("ended.requeued");
    default: return t("ended.other");
  }
}

function endChat(id, label) {
  const chat = state.chats.get(id);
  if (!chat || chat.ended) return;
  chat.ended = label;
  renderChatList();
  if (state.selected === id) renderSelected();
}

function dismissChat(id) {
  state.chats.delete(id);
  state.order = state.order.filter((x) => x !== id);
  if (state.selected === id) state.selected = null;
  renderChatList();
  renderSelected();
}

function select(id) {
  const previous = state.chats.get(state.selected);
  if (previous) previous.draft = $("reply-input").value;
  const switched = state.selected !== id;
  state.selected = id;
  const chat = state.chats.get(id);
  if (chat) chat.unread = 0;
  renderChatList();
  renderSelected();
  if (chat && switched) $("reply-input").value = chat.ended ? "" : chat.draft;
  if (chat && !chat.ended) $("reply-input").focus();
}

function lastText(chat) {
  const messages = [...chat.messages.values()].sort((a, b) => a.seq - b.seq);
  const last = messages[messages.length - 1];
  if (last) return t("snippet", { who: last.speaker === "agent" ? t("who.you") : t("who.customer"), text: last.text });
  return chat.record ? chat.record.case_brief.summary : t("loading");
}

function renderChatList() {
  const list = $("chat-list");
  const items = state.order.map((id) => state.chats.get(id)).filter(Boolean).map((chat) => {
    const unread = el("span", { class: "unread", "data-testid": "unread-count", hidden: chat.unread === 0 },
      String(chat.unread));
    const status = chat.ended
      ? el("span", { class: "badge" }, chat.ended)
      : el("span", { class: "badge accent" }, t("priority.short", { p: chat.priority ?? "?" }));
    return el("li", {
      "data-testid": "chat-item",
      "data-conversation": chat.conversation_id,
      "data-escalation": chat.id,
      class: [chat.id === state.selected ? "selected" : "", chat.ended ? "ended" : ""].join(" ").trim(),
    },
    el("button", { type: "button", onclick: () => select(chat.id), "aria-current": chat.id === state.selected ? "true" : null },
      el("span", { class: "grow chat-item-text" },
        el("strong", {}, groupName(chat.skill_group)),
        el("span", { class: "muted small chat-snippet" }, lastText(chat)),
        state.clocks ? state.clocks.chatBadge(chat) : null),
      status, unread));
  });
  setChildren(list, ...items);
  $("no-chats").hidden = items.length > 0;
  const unreadTotal = [...state.chats.values()].reduce((n, c) => n + c.unread, 0);
  document.body.classList.toggle("has-unread", unreadTotal > 0);
}

// -- the selected chat -----------------------------------------------------------------------------
function transcriptLine(speaker, text, who, at) {
  return el("li", { class: `line ${speaker}`, "data-testid": "transcript-line", "data-speaker": speaker },
    el("span", { class: "who" }, t("line.who", { who, time: fmtTime(at) })),
    el("span", { class: "text" }, text));
}

function messageLine(m) {
  if (m.speaker === "agent") {
    const who = m.author === state.me.id ? t("who.you_named", { name: state.me.name }) : t("who.agent_named", { id: m.author || "" }).trim();
    return transcriptLine("agent", m.text, who, m.at);
  }
  return transcriptLine("customer", m.text, t("who.customer"), m.at);
}

function renderTranscript(chat) {
  const box = $("transcript");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const lines = [];
  const record = chat.record;
  if (record) {
    for (const turn of record.transcript || []) {
      const speaker = ["customer", "bot", "agent"].includes(turn.speaker) ? turn.speaker : "bot";
      const who = speaker === "customer" ? t("who.customer") : speaker === "bot" ? t("who.bot") : t("who.agent");
      lines.push(transcriptLine(speaker, turn.text ?? "", who, turn.timestamp));
    }
    lines.push(el("li", { class: "divider" }, t("transcript.handed_off", { group: groupName(record.skill_group) || record.skill_group_name, time: fmtTime(record.created_at) })));
  } else {
    lines.push(el("li", { class: "divider" }, t("transcript.loading")));
  }
  for (const m of [...chat.messages.values()].sort((a, b) => a.seq - b.seq)) lines.push(messageLine(m));
  setChildren(box, ...lines);
  if (atBottom || !box.dataset.chat || box.dataset.chat !== chat.id) box.scrollTop = box.scrollHeight;
  box.dataset.chat = chat.id;
}

function renderSelected() {
  const chat = state.chats.get(state.selected);
  $("no-chat").hidden = !!chat;
  $("chat-view").hidden = !chat;
  if (state.followUp) state.followUp.show(chat || null);
  if (!chat) {
    renderBrief(null);
    return;
  }
  $("chat-title").textContent = t("chat.title", { group: groupName(chat.skill_group), p: chat.priority ?? "?" });
  $("chat-sub").textContent = chat.record ? t("chat.sub_handed", { id: chat.conversation_id, time: fmtTime(chat.record.created_at) })
    : t("chat.sub", { id: chat.conversation_id });
  setChildren($("chat-clocks"), state.clocks ? state.clocks.chatClocks(chat) : null);
  renderTranscript(chat);
  $("ended").hidden = !chat.ended;
  $("ended-text").textContent = chat.ended ? t("chat.read_only", { why: chat.ended }) : "";
  const ended = !!chat.ended;
  for (const id of ["reply-input", "reply-send", "canned-select", "transfer-group", "transfer-agent", "transfer-reason",
    "transfer-send", "release-reason", "release", "close-wrapup", "close-resolved", "close-send"]) {
    $(id).disabled = ended;
  }
  renderCanned(chat);
  renderBrief(chat);
}

/** The chat's language: its record's routing (`routing.language`, the handoff request's `language`), or null. */
/** A canned reply in the chat's language (the handoff request's `language`; policy/canned_responses.yml `texts`),
 * else its default (English) text. */
function cannedText(canned, chat) {
  const code = chatLanguage(chat);
  const lang = code ? String(code).split("-")[0] : null;
  return (lang && canned.texts && canned.texts[lang]) || canned.text;
}

function renderCanned(chat) {
  const options = state.meta.canned_responses
    .filter((c) => !chat || (c.groups || []).includes(chat.skill_group))
    .map((c) => el("option", { value: c.id }, c.title));
  $("canned-select").replaceChildren(el("option", { value: "" }, t("canned.choose")), ...options);
}

// -- the case brief (console_brief.js) and offers (console_offers.js) ----------------------------------
function renderBrief(chat) {
  drawBrief($("brief"), chat, { me: state.me && state.me.id, groupName });
}

const offers = mountOffers({
  banner: () => $("offer"),
  groupName,
  baseTitle: () => BASE_TITLE,
  mine: (id) => state.chats.has(id) && !state.chats.get(id).ended,
  accepted: (summary, id) => {
    addChat(summary);
    if (!state.selected || !state.chats.has(state.selected) || state.chats.get(state.selected).ended) select(id);
    else renderChatList();
  },
  fail,
});

// -- queues ----------------------------------------------------------------------------------------
let queueTimer = null;
async function refreshQueues() {
  try {
    const { queues } = await api("/v1/queues");
    for (const q of queues) if (!state.localNames || !state.groupNames[q.skill_group]) state.groupNames[q.skill_group] = q.name;
    const mine = queues.filter((q) => (state.me.skills || []).includes(q.skill_group));
    const rows = mine.map((q) => el("tr", { class: q.waiting > 0 && q.free_capacity === 0 ? "warn" : "", "data-group": q.skill_group },
      el("td", {}, groupName(q.skill_group) || q.name),
      el("td", { class: "num" }, String(q.waiting)),
      el("td", { class: "num" }, q.waiting ? fmtSeconds(q.oldest_wait_seconds) : "–"),
      el("td", { class: "num" }, String(q.agents_online)),
      el("td", { class: "num" }, String(q.free_capacity))));
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "5", class: "muted small" }, t("queues.none"))));
    setChildren(document.querySelector('[data-testid="queues"]').tBodies[0], ...rows);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 0)) fail(e);
  }
}

function queuesSoon() {
  clearTimeout(queueTimer);
  queueTimer = setTimeout(refreshQueues, 300);
}

// -- events ----------------------------------------------------------------------------------------
function onEvent(event) {
  if (typeof event.at === "number") state.skewMs = event.at * 1000 - Date.now();
  if (event.type === "ticket" && event.change) { // a ticket's change (a chat turned ticket has no `change`)
    if (state.tickets) state.tickets.onEvent(event);
    return;
  }
  if (state.clocks && state.clocks.onEvent(event)) return;
  switch (event.type) {
    case "snapshot": return onSnapshot(event);
    case "offered":
      if (isMine(event)) {
        offers.add({ id: event.escalation, conversation_id: event.conversation_id, group: event.group,
          priority: event.priority, deadline: event.deadline * 1000 - state.skewMs });
      }
      break;
    case "assigned":
      offers.remove(event.escalation);
      if (isMine(event) && !state.chats.has(event.escalation)) {
        addChat({ id: event.escalation, conversation_id: event.conversation_id, skill_group: event.group, status: "assigned" });
      }
      break;
    case "requeued":
      offers.remove(event.escalation);
      break;
    case "transferred":
      offers.remove(event.escalation);
      if (event.from_agent === state.me.id && event.agent !== state.me.id) endChat(event.escalation, endedLabel("transferred", event));
      break;
    case "message": onMessage(event); break;
    case "note": onNote(event); break;
    case "released": case "closed": case "abandoned": case "ticket":
      offers.remove(event.escalation);
      endChat(event.escalation, endedLabel(event.type, event));
      break;
    case "agent_status":
      if (isMine(event)) setStatusSelect(event.status);
      break;
    default: break;
  }
  queuesSoon();
}

function onSnapshot(event) {
  state.me = { ...state.me, ...event.agent };
  renderWho();
  if (state.tickets) state.tickets.refresh(); // after a reconnect: what the gap missed
  const present = new Set();
  offers.clear();
  for (const h of event.handoffs || []) {
    present.add(h.id);
    if (h.status === "offered") {
      const deadline = toDate(h.offer_deadline);
      offers.add({ id: h.id, conversation_id: h.conversation_id, group: h.skill_group, priority: h.priority,
        deadline: deadline ? deadline.getTime() - state.skewMs : Date.now() + 1000 * state.meta.reservation_seconds });
    } else {
      addChat(h); // (re)loads the record: fills any gap while disconnected
    }
  }
  offers.render();
  for (const chat of state.chats.values()) {
    if (!present.has(chat.id) && !chat.ended) loadRecord(chat); // it moved on while we were away
  }
}

function onMessage(event) {
  const chat = state.chats.get(event.escalation);
  if (!chat || !event.message) return;
  const known = chat.messages.has(event.message.seq);
  chat.messages.set(event.message.seq, event.message);
  if (known) return;
  if (event.message.speaker === "customer" && (state.selected !== chat.id || document.hidden)) chat.unread += 1;
  renderChatList();
  if (state.selected === chat.id) renderTranscript(chat);
}

function onNote(event) {
  const chat = state.chats.get(event.escalation);
  if (!chat || !event.note || chat.notes.has(event.note.id)) return;
  chat.notes.set(event.note.id, event.note);
  if (state.selected === chat.id) renderBrief(chat);
}

// -- actions on the selected chat -------------------------------------------------------------------
function selectedChat() {
  const chat = state.chats.get(state.selected);
  if (!chat) throw new Error(t("chat.select_first"));
  return chat;
}

async function busy(button, work) {
  button.disabled = true;
  try {
    await work();
    showError("");
  } catch (e) {
    fail(e);
  } finally {
    const chat = state.chats.get(state.selected);
    button.disabled = !!(chat && chat.ended && button.id !== "note-send");
  }
}

function clientMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "console-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sendReply() {
  const input = $("reply-input");
  const text = input.value.trim();
  if (!text) return;
  await busy($("reply-send"), async () => {
    const chat = selectedChat();
    // Sending the same text again after a failure (the answer may have been lost) reuses its id: the service
    // stores and shows it once.
    if (!chat.unsent || chat.unsent.text !== text) chat.unsent = { text, id: clientMessageId() };
    const body = { text, message_id: chat.unsent.id };
    const message = await api(`/v1/handoffs/${encodeURIComponent(chat.id)}/messages`, { method: "POST", body });
    chat.unsent = null;
    chat.messages.set(message.seq, message);
    chat.draft = "";
    if (input.value.trim() === text) input.value = "";
    renderTranscript(chat);
    renderChatList();
  });
  input.focus();
}

async function sendNote() {
  const input = $("note-input");
  const text = input.value.trim();
  if (!text) return;
  await busy($("note-send"), async () => {
    const chat = selectedChat();
    const note = await api(`/v1/handoffs/${encodeURIComponent(chat.id)}/notes`, { method: "POST", body: { text } });
    chat.notes.set(note.id, note);
    input.value = "";
    renderBrief(chat);
  });
}

async function transfer() {
  const group = $("transfer-group").value;
  const agentId = $("transfer-agent").value.trim();
  const reason = $("transfer-reason").value.trim();
  if (!group && !agentId) return fail(new Error(t("transfer.need_target")));
  if (!reason) return fail(new Error(t("transfer.need_reason")));
  await busy($("transfer-send"), async () => {
    const chat = selectedChat();
    const body = { reason };
    if (group) body.skill_group = group;
    if (agentId) body.agent_id = agentId;
    const moved = await api(`/v1/handoffs/${encodeURIComponent(chat.id)}/transfer`, { method: "POST", body });
    $("transfer-form").reset();
    endChat(chat.id, t("ended.transferred", { to: moved.agent_id ? moved.agent_id : groupName(moved.skill_group) }));
  });
}

async function release() {
  const reason = $("release-reason").value.trim();
  await busy($("release"), async () => {
    const chat = selectedChat();
    await api(`/v1/handoffs/${encodeURIComponent(chat.id)}/release`, { method: "POST", body: reason ? { reason } : {} });
    $("release-form").reset();
    endChat(chat.id, endedLabel("released"));
  });
}

async function closeChat() {
  const wrapUp = $("close-wrapup").value;
  const resolved = $("close-resolved").value;
  if (!wrapUp) return fail(new Error(t("close.need_wrapup")));
  if (!resolved) return fail(new Error(t("close.need_resolved")));
  await busy($("close-send"), async () => {
    const chat = selectedChat();
    await api(`/v1/handoffs/${encodeURIComponent(chat.id)}/close`, {
      method: "POST", body: { resolved: resolved === "yes", wrap_up: wrapUp },
    });
    $("close-form").reset();
    endChat(chat.id, endedLabel("closed"));
  });
}

// -- header ----------------------------------------------------------------------------------------
function renderWho() {
  const me = state.me;
  $("who").textContent = me.role === "supervisor" ? t("who.me_supervisor", { name: me.name, id: me.id }) : t("who.me", { name: me.name, id: me.id });
  $("dashboard-link").hidden = me.role !== "supervisor";
  setStatusSelect(me.status);
}

function setStatusSelect(status) {
  const select = $("status-select");
  select.value = status;
  select.disabled = false;
  select.className = `status ${status}`;
  if (state.me) state.me.status = status;
}

async function changeStatus() {
  const select = $("status-select");
  const wanted = select.value;
  const before = state.me.status;
  select.disabled = true;
  try {
    const me = await api("/v1/agents/me/status", { method: "PUT", body: { status: wanted } });
    state.me = { ...state.me, ...me };
    setStatusSelect(me.status);
    queuesSoon();
  } catch (e) {
    setStatusSelect(before);
    fail(e);
  }
}

function setConnection(status, reason) {
  const conn = $("conn");
  conn.textContent = ["open", "closed", "unauthorized", "forbidden"].includes(status) ? t(`conn.${status}`) : "";
  conn.classList.toggle("down", status !== "open");
  if (status === "unauthorized") {
    fail(new Error(t("session.ended")));
    setTimeout(() => location.reload(), 1500);
  } else if (status === "forbidden") {
    showError(t("conn.refused", { reason: reason || t("conn.refused_default") }));
  }
}

// -- start -----------------------------------------------------------------------------------------
function wire() {
  $("reply-form").addEventListener("submit", (e) => { e.preventDefault(); sendReply(); });
  $("reply-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendReply();
    }
  });
  $("canned-select").addEventListener("change", (e) => {
    const canned = state.meta.canned_responses.find((c) => c.id === e.target.value);
    if (canned) {
      const input = $("reply-input");
      input.value = cannedText(canned, state.chats.get(state.selected));
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
    e.target.value = "";
  });
  $("note-form").addEventListener("submit", (e) => { e.preventDefault(); sendNote(); });
  $("note-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendNote();
    }
  });
  $("transfer-form").addEventListener("submit", (e) => { e.preventDefault(); transfer(); });
  $("release-form").addEventListener("submit", (e) => { e.preventDefault(); release(); });
  $("close-form").addEventListener("submit", (e) => { e.preventDefault(); closeChat(); });
  $("dismiss").addEventListener("click", () => state.selected && dismissChat(state.selected));
  $("status-select").addEventListener("change", changeStatus);
  $("logout").addEventListener("click", async () => {
    try {
      await api("/v1/agents/me/status", { method: "PUT", body: { status: "offline" } });
    } catch {
      // logging out anyway: the token is dropped below
    }
    logout();
  });
  document.addEventListener("visibilitychange", () => {
    const chat = state.chats.get(state.selected);
    if (!document.hidden && chat && chat.unread) {
      chat.unread = 0;
      renderChatList();
    }
  });
}

function fillMeta(meta) {
  state.meta = meta;
  const lang = pickLang();
  for (const g of meta.skill_groups) state.groupNames[g.id] = (g.names && g.names[lang]) || g.name; // `names`: other languages
  state.localNames = true;
  $("transfer-group").replaceChildren(el("option", { value: "" }, t("transfer.group_choose")),
    ...meta.skill_groups.map((g) => el("option", { value: g.id }, groupName(g.id))));
  $("close-wrapup").replaceChildren(el("option", { value: "" }, t("close.wrapup_choose")),
    ...meta.wrap_up_codes.map((code) => el("option", { value: code }, humanize(code))));
}

async function main() {
  await initPage("console");
  BASE_TITLE = document.title;
  wire();
  state.me = await requireLogin("agent");
  renderWho();
  try {
    fillMeta(await api("/v1/meta"));
  } catch (e) {
    fail(e);
  }
  try {
    state.tickets = await mountTickets({ api, me: state.me, meta: state.meta, root: $("tickets-view"), chatsView: $("chats-view"),
      tabs: { chats: $("tab-chats"), tickets: $("tab-tickets") } });
    state.followUp = mountChatTicket({ api, t: state.tickets.t, meta: state.meta, root: $("chat-ticket"),
      openTicket: state.tickets.open, groupName });
  } catch (e) {
    fail(e);
  }
  try {
    await loadWords();
    state.clocks = mountConsoleClocks({ root: $("clock-alerts"), surgeRoot: $("surge-box"), me: () => state.me,
      chat: (id) => state.chats.get(id), reload: loadRecord, openChat: select, groupName,
      changed: (chat) => { renderChatList(); if (state.selected === chat.id) renderSelected(); },
      openTicket: (label) => state.tickets && state.tickets.open(label),
      ticketsChanged: () => state.tickets && state.tickets.refresh() });
  } catch (e) {
    fail(e);
  }
  connectEvents(onEvent, { onState: setConnection });
  refreshQueues();
  setInterval(refreshQueues, QUEUE_POLL_MS);
  setInterval(offers.tick, 1000);
  renderChatList();
  renderSelected();
}

main().catch(fail);
