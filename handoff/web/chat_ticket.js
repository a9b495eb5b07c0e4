// "Follow up as a ticket" in the Chats view: the selected chat (mine) becomes the start of a ticket, with an
// optional note and an optional team or flow: POST /v1/handoffs/{id}/ticket (ChatTicketIn in
// handoff/tickets/openapi.yml). The service makes one ticket per chat: asking again answers the same ticket
// (200 instead of 201), and the box says so. The ticket takes the chat's transcript and case brief and is the
// agent's; the chat itself stays open (the agent may go on, then close it).
//
// Mounted by console.js into the selected chat's actions; `show(chat)` is called whenever that chat is drawn.
// The ticket's label links to it in the Tickets view (#T-10042: `openTicket`). Wording: the Tickets view's
// catalog (`t`, handoff/web/i18n/tickets.<lang>.json). Text reaches the page only through `el` (textContent).
import { el } from "/web/common.js";

/** `text` (a catalog message) with each "{label}" replaced by a node from `link()`. */
function withLink(text, link) {
  const parts = String(text).split("{label}");
  return parts.flatMap((part, i) => (i === 0 ? [part] : [link(), part])).filter((x) => x !== "");
}

/**
 * Builds the box into `root`. `api`: common.js's client; `t`: the tickets catalog; `meta`: GET /v1/meta (the
 * teams); `openTicket(label)`: shows it in the Tickets view. Returns `{show(chat)}`; `chat` is console.js's
 * chat ({id, skill_group, ended, ...}) or null. What was made is kept on the chat (`chat.followUp`), so the
 * link stays when the agent switches chats and comes back, and after the chat ends.
 */
export function mountChatTicket({ api, t, meta, root, openTicket, groupName }) {
  let current = null; // the chat shown
  const note = el("textarea", { id: "chat-ticket-note", rows: "2", maxlength: "2000", "data-testid": "chat-ticket-note",
    placeholder: t("followup.note_placeholder") });
  const team = el("select", { "data-testid": "chat-ticket-group", "aria-label": t("followup.team") });
  const flow = el("input", { "data-testid": "chat-ticket-flow", maxlength: "64", size: "18", placeholder: t("followup.flow_placeholder"),
    "aria-label": t("followup.flow"), autocomplete: "off" });
  const send = el("button", { type: "submit", class: "secondary", "data-testid": "chat-ticket-send" }, t("followup.send"));
  const problem = el("p", { class: "error small", role: "alert", "data-testid": "chat-ticket-error", hidden: true });
  const result = el("p", { class: "chat-ticket-result", role: "status", "data-testid": "chat-ticket-result", hidden: true });
  const form = el("form", { autocomplete: "off", "data-testid": "chat-ticket-form", onsubmit: (e) => { e.preventDefault(); make(); } },
    el("fieldset", {}, el("legend", {}, t("followup.title")),
      el("label", { for: "chat-ticket-note", class: "visually-hidden" }, t("followup.note")), note,
      team, flow, send,
      el("p", { class: "muted small chat-ticket-hint" }, t("followup.hint"))));
  root.replaceChildren(form, problem, result);

  function say(box, content) {
    box.replaceChildren(...[content].flat().filter((x) => x !== null && x !== undefined && x !== ""));
    box.hidden = !box.childNodes.length;
  }

  function showResult(chat) {
    const made = chat && chat.followUp;
    if (!made) return say(result, null);
    const link = () => el("a", { href: `#${made.label}`, "data-testid": "chat-ticket-link", title: t("followup.open", { label: made.label }),
      onclick: (e) => {
        if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return; // a new tab: the address does it
        e.preventDefault();
        openTicket(made.label);
      } }, made.label);
    say(result, withLink(t(made.created ? "followup.made" : "followup.existing"), link));
  }

  function show(chat) {
    if ((chat && chat.id) !== (current && current.id)) { // another chat: its own box (no draft carried over)
      form.reset();
      say(problem, null);
      team.replaceChildren(el("option", { value: "" }, chat ? t("followup.team_default", { group: groupName(chat.skill_group) }) : ""),
        (meta.skill_groups || []).map((g) => el("option", { value: g.id }, g.name)));
    }
    current = chat;
    for (const field of [note, team, flow, send]) field.disabled = !chat || !!chat.ended;
    showResult(chat);
  }

  async function make() {
    const chat = current;
    if (!chat || chat.ended) return;
    const body = {};
    if (note.value.trim()) body.note = note.value.trim();
    if (team.value) body.skill_group = team.value;
    if (flow.value.trim()) body.flow = flow.value.trim();
    if (body.skill_group && body.flow) return say(problem, t("followup.team_or_flow"));
    send.disabled = true;
    try {
      const { status, data } = await api(`/v1/handoffs/${encodeURIComponent(chat.id)}/ticket`, { method: "POST", body, withStatus: true });
      chat.followUp = { label: data.label, created: status === 201 };
      say(problem, null);
      if (current === chat) form.reset();
      showResult(current);
    } catch (e) {
      if (current === chat) say(problem, e instanceof Error ? e.message : String(e)); // the service's words
    } finally {
      send.disabled = !current || !!current.ended;
    }
  }

  return { show };
}
