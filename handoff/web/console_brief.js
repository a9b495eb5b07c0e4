// The agent console's case brief: what the bot learned before the handoff (summary, customer, what it captured,
// topics, scores, why it handed over, routing), the customer's earlier conversations and the chat's internal
// notes. console.js draws it into the side panel whenever the selected chat changes (`renderBrief`).
// Text reaches the page only through `el` (textContent).
import { el, fmtTime, t } from "/web/common.js";

/** replaceChildren without the nulls (replaceChildren itself would show them as the text "null"). */
const setChildren = (node, ...children) => node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));

export const humanize = (name) => (/^[a-z0-9_]+$/.test(String(name)) ? String(name).replace(/_/g, " ") : String(name ?? ""));
/** A language code of a chat ("zh", "en") by its name in the page's language; an unknown code as it is. */
export const languageName = (code) => {
  const key = `language.${String(code).split("-")[0]}`;
  return t(key) === key ? String(code) : t(key);
};

export function chatLanguage(chat) {
  const r = chat && chat.record;
  return (r && ((r.routing && r.routing.language) || r.language)) || null;
}

function section(title, ...content) {
  const body = content.flat().filter((x) => x !== null && x !== undefined && x !== false);
  if (!body.length) return null;
  return el("section", { class: "brief-section" }, el("h3", {}, title), ...body);
}

function defs(pairs) {
  const rows = pairs.filter(([, v]) => v !== null && v !== undefined && v !== "");
  if (!rows.length) return null;
  return el("dl", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v instanceof Node ? v : String(v))]));
}

function list(items) {
  return items.length ? el("ul", {}, items.map((item) => el("li", {}, item))) : null;
}

function fmtValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function fmtScore(value) {
  return typeof value === "number" ? value.toFixed(2) : fmtValue(value);
}

/** Entities and slots as [label, value] rows, each pair once (an order number is often both). */
function captured(brief) {
  const rows = [
    ...(brief.entities || []).map((e) => [humanize(String(e.type).toLowerCase()), String(e.value)]),
    ...Object.entries(brief.slots || {}).filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => [humanize(k), fmtValue(v)]),
  ];
  const seen = new Set();
  return rows.filter(([k, v]) => {
    const key = `${k}\u0000${v}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Draw the brief of `chat` (null: none selected) into `box`; `me`: the agent's id, `groupName`: a group's name. */
export function renderBrief(box, chat, { me, groupName }) {
  if (!chat) {
    setChildren(box, el("h2", {}, t("brief.title")), el("p", { class: "empty small" }, t("brief.empty")));
    return;
  }
  const r = chat.record;
  if (!r) {
    setChildren(box, el("h2", {}, t("brief.title")), el("p", { class: "empty small" }, t("loading")));
    return;
  }
  const brief = r.case_brief || {};
  const tags = (r.customer && r.customer.tags) || {};
  const sentiment = (r.scores && r.scores.sentiment) || {};
  const complexity = (r.scores && r.scores.complexity) || {};
  const routing = r.routing || {};
  const tier = tags.vip_tier && tags.vip_tier !== "none" ? el("span", { class: "badge warn", "data-testid": "vip-tier" }, t("brief.vip", { tier: tags.vip_tier })) : t("brief.none");
  const notes = [...chat.notes.values()].sort((a, b) => a.id - b.id);

  setChildren(box,
    el("h2", {}, t("brief.title")),
    section(t("brief.summary"), el("p", { "data-testid": "brief-summary" }, brief.summary || "–")),
    section(t("brief.customer"), defs([
      [t("brief.customer_id"), r.customer && r.customer.id ? r.customer.id : t("brief.not_known")],
      [t("brief.language"), chatLanguage(chat) ? languageName(chatLanguage(chat)) : null],
      [t("brief.vip_tier"), tier],
      [t("brief.orders"), tags.lifetime_orders],
      [t("brief.open_tickets"), tags.open_tickets],
      ...Object.entries(tags).filter(([k]) => !["vip_tier", "lifetime_orders", "open_tickets"].includes(k))
        .map(([k, v]) => [humanize(k), fmtValue(v)]),
    ])),
    section(t("brief.captured"), defs(captured(brief))),
    section(t("brief.topics"),
      (brief.topics || []).length ? el("p", {}, (brief.topics || []).map((x) => el("span", { class: "badge" }, humanize(x)))) : null,
      list(Object.entries(brief.categories || {}).map(([k, v]) => `${humanize(k)}: ${v}`))),
    section(t("brief.scores"), defs([
      [t("brief.sentiment"), `${fmtScore(sentiment.latest)}${sentiment.label ? ` (${sentiment.label})` : ""}`],
      [t("brief.trend"), fmtScore(sentiment.trend)],
      [t("brief.complaint"), fmtScore(sentiment.complaint)],
      [t("brief.complexity"), `${complexity.level || "–"} (${fmtScore(complexity.score)})`],
    ]), list((complexity.factors || []).map((f) => `${humanize(f.name)}: ${f.reason}`))),
    section(t("brief.why"), list(((r.decision && r.decision.triggers) || []).map((x) => `${humanize(x.name)}: ${x.reason}`))),
    section(t("brief.routing"), defs([
      [t("brief.group"), `${groupName(r.skill_group) || r.skill_group_name} (${routing.reason || "–"})`],
      [t("brief.bot_suggested"), routing.bot_suggestion ? groupName(routing.bot_suggestion) : null],
      [t("brief.priority"), routing.priority],
    ]), list([...(routing.priority_reasons || []), ...(routing.overflow || [])])),
    section(t("brief.previous"),
      (r.previous || []).length
        ? el("ul", { "data-testid": "previous" }, r.previous.map((p) => el("li", {},
          `${fmtTime(p.created_at)} · ${groupName(p.skill_group)} · ${p.status}` +
          (p.outcome && p.outcome.wrap_up ? ` · ${humanize(p.outcome.wrap_up)}` : "") +
          (p.outcome && typeof p.outcome.resolved === "boolean" ? (p.outcome.resolved ? ` · ${t("brief.resolved")}` : ` · ${t("brief.not_resolved")}`) : ""))))
        : el("p", { class: "muted small" }, t("brief.no_previous"))),
    section(t("brief.notes"),
      notes.length
        ? el("div", { "data-testid": "notes" }, notes.map((n) => el("div", { class: "note", "data-testid": "note" },
          el("span", { class: "who small muted" }, t("line.who", { who: n.author === me ? t("who.you") : n.author, time: fmtTime(n.at) })),
          el("div", {}, n.text))))
        : el("p", { class: "muted small" }, t("brief.no_notes"))),
  );
}
