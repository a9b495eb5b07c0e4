// The agent console's Tickets view: the lists (mine, my groups' queue with the unassigned first,
// due soon, overdue, all for supervisors), a search (T-number, customer id, e-mail, order number) and the
// ticket page (details, the timeline, the linked chats' transcripts and briefs, and the actions).
//
// Mounted by console.js (`mountTickets`), which passes the API helper and forwards the WebSocket's ticket
// events (`{"type": "ticket", "change", "ticket", "groups"}`): the list and the open ticket reload when one
// concerns them. Wording: the catalog /web/i18n/tickets.<lang>.json (en, zh; `?lang=` or the browser's
// language; a key missing in one language falls back to English). Text reaches the page only through `el`
// (textContent), so a customer's "<img onerror=...>" is text. Drafts survive live updates: only the
// details, timeline and chats are redrawn, never the forms.
// Why over 400 lines: the lists, the actions, the live reloads and the address share one state object (s);
// the ticket page's rendering is ticket_page.js.
import { el, fmtTime, pickLang as pagePickLang } from "/web/common.js";
import { renderTicketHead, renderTimeline, renderChats } from "/web/ticket_page.js";
import { clockStrip, loadWords, viewClocks } from "/web/clocks.js";

const VIEWS = ["mine", "groups", "due", "overdue", "all"];
const RELOAD_MS = 250;
const STATES = ["new", "open", "pending", "on_hold", "solved", "closed"];

/** The page language (common.js: the switch, else `?lang=`, else the browser's language). */
export function pickLang() {
  return pagePickLang();
}

async function fetchCatalog(lang) {
  const response = await fetch(`/web/i18n/tickets.${lang}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`the tickets wording (${lang}) did not load: HTTP ${response.status}`);
  return response.json();
}

/** A translator over the catalog of `lang` with English beneath it: t(key, {name: value}) fills "{name}". */
export async function loadCatalog(lang) {
  const english = await fetchCatalog("en");
  const own = lang === "en" ? english : { ...english, ...(await fetchCatalog(lang).catch(() => ({}))) };
  return (key, vars = {}) => String(own[key] ?? key).replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

const setChildren = (node, ...children) => node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));

function clientMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "console-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Builds the Tickets view into `root` and wires the `tabs` ({chats, tickets} buttons) to switch between it and
 * `chatsView`. `api` is common.js's client; `me` the logged-in agent; `meta` GET /v1/meta. Returns
 * `{onEvent(ticketEvent), refresh(), show(view), open(label), t}` (`open` shows that ticket; `t` is the catalog's
 * translator, for the console's other ticket wording).
 */
export async function mountTickets({ api, me, meta, root, chatsView, tabs }) {
  const t = await loadCatalog(pickLang());
  await loadWords().catch(() => null); // the SLA clocks' wording (clocks.js); without it a clock shows its keys
  const groupNames = Object.fromEntries((meta.skill_groups || []).map((g) => [g.id, g.name]));
  // Agents by name (GET /v1/meta's `agents`); an id the console does not know (an account made since) as it is.
  const agentNames = Object.fromEntries((meta.agents || []).map((a) => [a.id, a.name]));
  const ctx = {
    t, me,
    groupName: (id) => groupNames[id] || String(id ?? ""),
    stateName: (s) => t(`state.${s}`),
    who: (id) => (id === me.id ? `${t("who.you")} (${me.name || me.id})` : id === "customer" ? t("who.customer")
      : id === "system" ? t("who.system") : id === "bot" ? t("who.bot") : agentNames[id] || String(id ?? "")),
  };
  const s = { view: "groups", q: "", tickets: [], open: null, detail: null, listTimer: null, pageTimer: null, loads: 0, lists: 0, unsent: null, fromList: false };
  const views = VIEWS.filter((v) => v !== "all" || me.role === "supervisor");

  // -- the shell (built once) ----------------------------------------------------------------------
  const viewButtons = Object.fromEntries(views.map((v) => [v, el("button", {
    type: "button", class: "secondary", role: "tab", "data-testid": `tickets-view-${v}`, onclick: () => chooseView(v),
  }, t(`view.${v}`))]));
  const search = el("input", { type: "search", id: "tickets-q", "data-testid": "tickets-search", maxlength: "200",
    placeholder: t("search.placeholder"), autocomplete: "off" });
  const heading = el("h2", { "data-testid": "tickets-heading" });
  const list = el("ul", { class: "ticket-list", "data-testid": "ticket-list", "aria-live": "polite" });
  const listEmpty = el("p", { class: "empty small", "data-testid": "tickets-empty", hidden: true });
  // view=all is paged by the service: "More" fetches the next page (next_offset) and appends it
  const more = el("button", { type: "button", class: "secondary", "data-testid": "tickets-more", hidden: true,
    onclick: () => refreshList(s.next) }, t("list.more"));
  const listPane = el("section", { class: "card tickets-list", "data-testid": "tickets-list-pane" },
    el("div", { class: "ticket-views", role: "tablist" }, Object.values(viewButtons)),
    el("form", { class: "row ticket-search", role: "search", onsubmit: (e) => { e.preventDefault(); runSearch(search.value); } },
      el("label", { for: "tickets-q", class: "visually-hidden" }, t("search.label")), search,
      el("button", { type: "submit", "data-testid": "tickets-search-go" }, t("search.button"))),
    heading, list, listEmpty, more);

  const problem = el("p", { class: "error", role: "alert", "data-testid": "ticket-error", hidden: true });
  const notice = el("p", { class: "ticket-notice", role: "status", "data-testid": "ticket-notice", hidden: true });
  const head = el("div", { class: "ticket-head-box" });
  const timeline = el("ol", { class: "timeline", "data-testid": "timeline" });
  const chats = el("div", { class: "ticket-chats", "data-testid": "ticket-chats" });
  const actions = buildActions();
  const pageBody = el("div", { class: "ticket-body", hidden: true }, head,
    el("h3", {}, t("section.timeline")), timeline, actions.box, el("h3", {}, t("section.chats")), chats);
  const placeholder = el("p", { class: "empty", "data-testid": "ticket-none" }, t("page.none"));
  const page = el("section", { class: "card ticket-page", "data-testid": "ticket-page", "aria-label": t("list.title") },
    el("button", { type: "button", class: "secondary ticket-back", "data-testid": "ticket-back", onclick: () => back() }, `← ${t("page.back")}`),
    problem, notice, placeholder, pageBody);
  setChildren(root, listPane, page);
  root.classList.add("tickets");

  tabs.chats.textContent = t("tab.chats");
  tabs.tickets.textContent = t("tab.tickets");
  tabs.chats.addEventListener("click", () => go(""));
  tabs.tickets.addEventListener("click", () => go(s.open ? `#${s.open}` : "#tickets"));
  tabs.chats.disabled = false;  // disabled in the page until they work
  tabs.tickets.disabled = false;

  // -- where we are: the URL's hash (#tickets, #T-10042; none: chats), so the phone's back button and links work --
  function go(hash, fromList = false) {
    if (location.hash !== hash) history.pushState(null, "", hash || location.pathname + location.search);
    s.fromList = fromList;
    route();
  }

  function route() {
    let hash = location.hash;
    try {
      hash = decodeURIComponent(hash);
    } catch {
      // a malformed address: taken as it is (it opens nothing)
    }
    const ticket = /^#(T-\d+)$/i.exec(hash);
    if (!ticket && hash !== "#tickets") return show("chats");
    if (root.hidden) show("tickets");
    if (ticket && s.open !== ticket[1].toUpperCase()) openTicket(ticket[1].toUpperCase());
    else if (!ticket && s.open) closeTicket();
  }
  window.addEventListener("popstate", route);

  function back() {
    if (s.fromList) history.back(); // where the agent came from: the phone's back button does the same
    else go("#tickets");
  }

  function show(which) {
    const tickets = which === "tickets";
    root.hidden = !tickets;
    chatsView.hidden = tickets;
    tabs.tickets.setAttribute("aria-selected", String(tickets));
    tabs.chats.setAttribute("aria-selected", String(!tickets));
    if (tickets) refresh();
  }

  // -- messages to the agent -----------------------------------------------------------------------
  function say(box, text) {
    box.textContent = text || "";
    box.hidden = !text;
  }
  const fail = (e) => { say(notice, ""); say(problem, e instanceof Error ? e.message : String(e)); };
  const done = (text) => { say(problem, ""); say(notice, text); };

  // -- the list --------------------------------------------------------------------------------------
  function chooseView(v) {
    s.view = v;
    s.q = "";
    search.value = "";
    refreshList();
  }

  function runSearch(q) {
    s.q = q.trim();
    refreshList();
  }

  async function refreshList(offset) {
    for (const [v, b] of Object.entries(viewButtons)) b.setAttribute("aria-selected", String(!s.q && v === s.view));
    heading.textContent = s.q ? t("list.results", { q: s.q }) : t(`view.${s.view}`);
    const params = new URLSearchParams({ view: s.view });
    if (s.q) params.set("q", s.q);
    if (offset) params.set("offset", String(offset));
    const load = ++s.lists; // a slower answer to an older view or search must not replace a newer one
    try {
      const { tickets, next_offset: next } = await api(`/v1/tickets?${params}`);
      if (load !== s.lists) return;
      // The queue: the unassigned first (the API keeps its own order within each part).
      const shown = s.view === "groups" && !s.q ? [...tickets.filter((x) => !x.assignee), ...tickets.filter((x) => x.assignee)] : tickets;
      s.tickets = offset ? [...s.tickets, ...shown] : shown;
      s.next = next ?? null;
      more.hidden = s.next === null;
      renderList();
    } catch (e) {
      fail(e);
    }
  }

  function renderList() {
    setChildren(list, s.tickets.map(row));
    listEmpty.textContent = s.q ? t("list.empty_search", { q: s.q }) : t("list.empty");
    listEmpty.hidden = s.tickets.length > 0;
  }

  function row(x) {
    const group = x.owner_group && x.owner_group !== x.group
      ? `${ctx.groupName(x.group)} (${t("row.owner", { group: ctx.groupName(x.owner_group) })})` : ctx.groupName(x.group);
    return el("li", { "data-testid": "ticket-row", "data-label": x.label, "data-state": x.state,
      class: [x.label === s.open ? "selected" : "", x.overdue ? "overdue" : ""].join(" ").trim() },
    el("button", { type: "button", onclick: () => go(`#${x.label}`, true), "aria-current": x.label === s.open ? "true" : null },
      el("span", { class: "ticket-row-top" },
        el("strong", { class: "ticket-label" }, x.label),
        el("span", { class: `badge state-${x.state}`, "data-testid": "ticket-row-state" }, ctx.stateName(x.state)),
        x.overdue ? el("span", { class: "badge bad", "data-testid": "ticket-overdue" }, t("overdue")) : null),
      el("span", { class: "ticket-subject", "data-testid": "ticket-row-subject" }, x.subject),
      el("span", { class: "muted small ticket-row-meta" },
        el("span", { "data-testid": "ticket-row-group" }, group), " · ",
        el("span", { "data-testid": "ticket-row-assignee" }, x.assignee ? ctx.who(x.assignee) : t("row.unassigned")), " · ",
        el("span", { class: x.overdue ? "overdue-text" : "" }, x.due_at ? t("row.due", { time: fmtTime(x.due_at) }) : t("row.no_due"))),
      clockStrip(viewClocks(x), { urgentOnly: true, testid: "ticket-row-clock" })));
  }

  // -- the ticket page -------------------------------------------------------------------------------
  async function openTicket(label) {
    if (s.open !== label) {
      s.detail = null;
      s.unsent = null;
      for (const form of actions.box.querySelectorAll("form")) form.reset();
      say(problem, "");
      say(notice, "");
    }
    s.open = label;
    root.classList.add("page-open");
    renderList();
    placeholder.hidden = true;
    if (!s.detail) setChildren(head, el("p", { class: "muted" }, t("page.loading")));
    pageBody.hidden = false;
    await loadTicket();
    if (getComputedStyle(listPane).display === "none") window.scrollTo(0, 0); // a phone: the page replaced the list
  }

  function closeTicket() {
    s.open = null;
    s.loads += 1;
    clearTimeout(s.pageTimer);
    s.detail = null;
    root.classList.remove("page-open");
    pageBody.hidden = true;
    placeholder.hidden = false;
    say(problem, "");
    say(notice, "");
    renderList();
  }

  /** Whether the service lets me see `ticket` (as handoff/tickets/service.py decides): my groups', mine, or I supervise. */
  const maySee = (ticket) => me.role === "supervisor" || ticket.assignee === me.id
    || (me.skills || []).includes(ticket.group) || (me.skills || []).includes(ticket.owner_group);

  /** The open ticket left my groups (sent on, or taken away): the page closes and says so. */
  function gone(ticket) {
    history.replaceState(null, "", "#tickets");
    closeTicket();
    done(t("page.gone", { label: ticket.label, group: ctx.groupName(ticket.group) }));
  }

  async function loadTicket() {
    const label = s.open;
    if (!label) return;
    const load = ++s.loads; // only the latest load counts: an older answer may come later
    try {
      const detail = await api(`/v1/tickets/${encodeURIComponent(label)}`);
      if (s.open !== label || load !== s.loads) return; // the agent moved on meanwhile
      s.detail = detail;
      renderPage();
    } catch (e) {
      if (s.open === label && load === s.loads) fail(e);
    }
  }

  function renderPage() {
    const d = s.detail;
    if (!d) return;
    setChildren(head, renderTicketHead(ctx, d.ticket), clockStrip(viewClocks(d.ticket) || viewClocks(d), { testid: "ticket-clocks" }));
    setChildren(timeline, renderTimeline(ctx, d.timeline));
    setChildren(chats, renderChats(ctx, d.chats));
    actions.update(d.ticket);
  }

  // -- actions ---------------------------------------------------------------------------------------
  function buildActions() {
    const claim = el("button", { type: "button", "data-testid": "ticket-claim" }, t("action.claim"));
    const replyInput = el("textarea", { id: "ticket-reply", rows: "3", maxlength: "5000", "data-testid": "ticket-reply-input",
      placeholder: t("action.reply_placeholder") });
    const replyThen = el("select", { "data-testid": "ticket-reply-then", "aria-label": t("action.then") },
      ["pending", "open", "solved"].map((x) => el("option", { value: x }, `${t("action.then")}: ${t(`state.${x}`)}`)));
    const replySend = el("button", { type: "submit", "data-testid": "ticket-reply-send" }, t("action.reply_send"));
    const noteInput = el("textarea", { id: "ticket-note", rows: "2", maxlength: "2000", "data-testid": "ticket-note-input",
      placeholder: t("action.note_placeholder") });
    const noteSend = el("button", { type: "submit", class: "secondary", "data-testid": "ticket-note-send" }, t("action.note_send"));
    const stateSelect = el("select", { "data-testid": "ticket-state-select", "aria-label": t("action.state") },
      STATES.map((x) => el("option", { value: x }, t(`state.${x}`))));
    const stateReason = el("input", { "data-testid": "ticket-state-reason", maxlength: "500", placeholder: t("action.state_reason"),
      "aria-label": t("action.state_reason"), class: "grow" });
    const stateSend = el("button", { type: "submit", "data-testid": "ticket-state-send" }, t("action.state_send"));
    const sendGroup = el("select", { "data-testid": "ticket-send-group", "aria-label": t("action.send_group") },
      el("option", { value: "" }, t("action.send_group")),
      (meta.skill_groups || []).map((g) => el("option", { value: g.id }, g.name)));
    const sendNote = el("input", { "data-testid": "ticket-send-note", maxlength: "2000", placeholder: t("action.send_note"),
      "aria-label": t("action.send_note"), class: "grow" });
    const sendSend = el("button", { type: "submit", "data-testid": "ticket-send-send" }, t("action.send_send"));
    const nextStep = el("button", { type: "button", class: "secondary", "data-testid": "ticket-next-step", hidden: true });
    const mergeInto = el("input", { "data-testid": "ticket-merge-into", maxlength: "64", placeholder: t("action.merge_placeholder"),
      "aria-label": t("action.merge"), size: "10" });
    const mergeSend = el("button", { type: "submit", class: "secondary", "data-testid": "ticket-merge-send" }, t("action.merge_send"));

    const assignTo = el("input", { "data-testid": "ticket-assign-agent", maxlength: "64", placeholder: t("action.assign_placeholder"),
      "aria-label": t("action.assign"), pattern: "[a-z0-9][a-z0-9_.\\-]{0,63}", size: "10", list: "ticket-agents" });
    const agentChoices = el("datalist", { id: "ticket-agents" }, // the id to type, offered by name
      (meta.agents || []).map((a) => el("option", { value: a.id, label: `${a.name} (${(a.skills || []).map(ctx.groupName).join(", ")})` })));
    const assignSend = el("button", { type: "submit", class: "secondary", "data-testid": "ticket-assign-send" }, t("action.assign_send"));
    const form = (label, testid, onsubmit, ...content) => el("form", { autocomplete: "off", "data-testid": testid,
      onsubmit: (e) => { e.preventDefault(); onsubmit(e.submitter || e.target.querySelector("button[type=submit]")); } },
    el("fieldset", {}, el("legend", {}, label), ...content));

    const box = el("div", { class: "actions ticket-actions", "data-testid": "ticket-actions" },
      el("div", { class: "row" }, claim),
      form(t("action.reply"), "ticket-reply-form", reply, el("label", { for: "ticket-reply", class: "visually-hidden" }, t("action.reply")),
        replyInput, el("div", { class: "row" }, replyThen, replySend)),
      el("div", { class: "note-box" }, form(t("action.note"), "ticket-note-form", note,
        el("label", { for: "ticket-note", class: "visually-hidden" }, t("action.note")), noteInput, noteSend)),
      form(t("action.state"), "ticket-state-form", changeState, stateSelect, stateReason, stateSend),
      form(t("action.send"), "ticket-send-form", sendToTeam, sendGroup, sendNote, sendSend, nextStep),
      form(t("action.merge"), "ticket-merge-form", merge, mergeInto, mergeSend),
      me.role === "supervisor" ? form(t("action.assign"), "ticket-assign-form", assign, assignTo, agentChoices, assignSend) : null);

    let shownStep = 0;
    claim.addEventListener("click", () => act(claim, "claim", undefined, (x) => t("action.claimed", { label: x.label })));
    nextStep.addEventListener("click", () => {
      const text = sendNote.value.trim();
      if (!text) return fail(new Error(t("error.need_note")));
      // from_step: the step shown here, so a retry after a lost answer does not move the ticket on twice
      act(nextStep, "send", { next_step: true, from_step: shownStep, note: text }, null, () => { sendNote.value = ""; });
    });

    function reply(button) {
      const text = replyInput.value.trim();
      if (!text) return;
      // Sending the same text again after a failure reuses its id: the service keeps it once.
      if (!s.unsent || s.unsent.text !== text) s.unsent = { text, id: clientMessageId() };
      act(button, "replies", { text, state: replyThen.value, message_id: s.unsent.id }, null, () => {
        s.unsent = null;
        if (replyInput.value.trim() === text) replyInput.value = "";
      });
    }
    function note(button) {
      const text = noteInput.value.trim();
      if (text) act(button, "notes", { text }, null, () => { noteInput.value = ""; });
    }
    function changeState(button) {
      const reason = stateReason.value.trim();
      act(button, "state", reason ? { state: stateSelect.value, reason } : { state: stateSelect.value }, null,
        () => { stateReason.value = ""; });
    }
    function sendToTeam(button) {
      if (!sendGroup.value) return fail(new Error(t("error.need_group")));
      const text = sendNote.value.trim();
      if (!text) return fail(new Error(t("error.need_note")));
      act(button, "send", { skill_group: sendGroup.value, note: text }, null, () => { sendNote.value = ""; sendGroup.value = ""; });
    }
    function merge(button) {
      const into = mergeInto.value.trim();
      if (!into) return fail(new Error(t("error.need_target")));
      act(button, "merge", { into }, (x) => t("page.merged", { label: x.label }), () => { mergeInto.value = ""; });
    }

    function assign(button) {
      const agent = assignTo.value.trim();
      if (!agent) return fail(new Error(t("error.need_agent")));
      act(button, "assign", { agent_id: agent }, (x) => t("action.assigned", { label: x.label, agent: ctx.who(x.assignee) }),
        () => { assignTo.value = ""; });
    }

    function update(ticket) {
      shownStep = ticket.flow ? Number(ticket.flow.step || 0) : 0;
      claim.hidden = ticket.assignee === me.id;
      stateSelect.value = ticket.state;
      const flow = ticket.flow;
      const next = flow && Array.isArray(flow.steps) ? flow.steps[Number(flow.step || 0) + 1] : null; // step counts from 0
      nextStep.hidden = !next;
      if (next) nextStep.textContent = t("action.next_step", { group: ctx.groupName(next) });
    }
    return { box, update };
  }

  /** POST /v1/tickets/{open}/{what}; then the page reloads; API errors (409, 403, ...) are shown as the service words them. */
  async function act(button, what, body, message, after) {
    const label = s.open;
    if (!label) return;
    clearTimeout(s.pageTimer); // this action reloads the page itself
    button.disabled = true;
    try {
      const ticket = await api(`/v1/tickets/${encodeURIComponent(label)}/${what}`, { method: "POST", body });
      if (after) after();
      done(message ? message(ticket) : `${t("action.done")}`);
      if (what === "merge" && ticket.label !== label) {
        s.open = ticket.label;
        history.replaceState(null, "", `#${ticket.label}`);
      }
      if (maySee(ticket)) await loadTicket();
      else gone(ticket);
      refreshList();
    } catch (e) {
      fail(e);
    } finally {
      button.disabled = false;
    }
  }

  // -- live ------------------------------------------------------------------------------------------
  function onEvent(event) {
    if (root.hidden) return; // show() reloads what is on screen
    clearTimeout(s.listTimer);
    s.listTimer = setTimeout(refreshList, RELOAD_MS);
    const id = event.ticket && event.ticket.id;
    if (s.detail && id && (id === s.detail.ticket.id || event.ticket.label === s.open)) {
      clearTimeout(s.pageTimer);
      if (maySee(event.ticket)) s.pageTimer = setTimeout(loadTicket, RELOAD_MS);
      else gone(event.ticket);
    }
  }

  function refresh() {
    if (root.hidden) return; // show() reloads it
    refreshList();
    if (s.open) loadTicket();
  }

  route(); // a link to /console/#T-10042 opens that ticket
  return { onEvent, refresh, show, open: (label) => go(`#${label}`), t };
}
