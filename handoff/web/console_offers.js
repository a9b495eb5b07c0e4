// The agent console's offers: the banner of the next chat offered to me (group, priority, a live countdown, Accept),
// the page title flashing while one waits, and accepting it. console.js adds and removes offers as the WebSocket's
// events say (`offered`, `assigned`, `requeued`, ...) and ticks the countdown every second.
import { ApiError, api, el, t } from "/web/common.js";

/** replaceChildren without the nulls (replaceChildren itself would show them as the text "null"). */
const setChildren = (node, ...children) => node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));

/**
 * `banner()`: the offer's element; `groupName(id)`; `baseTitle()`: the page title without an offer;
 * `mine(id)`: whether the chat is already one of mine; `accepted(summary, id)`: after Accept took it;
 * `fail(error)`: show an error. Returns `{add(offer), remove(id), clear(), render(), tick()}`.
 */
export function mountOffers({ banner, groupName, baseTitle, mine, accepted, fail }) {
  const offers = new Map(); // escalation id -> {id, conversation_id, group, priority, deadline (ms, our clock)}
  let flash = false;

  function addOffer(offer) {
    if (mine(offer.id)) return; // already mine
    offers.set(offer.id, offer);
    renderOffer();
  }

  function removeOffer(id) {
    if (offers.delete(id)) renderOffer();
  }

  function nextOffer() {
    return [...offers.values()].sort((a, b) => a.deadline - b.deadline)[0] || null;
  }

  function renderOffer() {
    const box = banner();
    const offer = nextOffer();
    if (!offer) {
      box.hidden = true;
      box.replaceChildren();
      document.title = baseTitle();
      return;
    }
    const more = offers.size - 1;
    setChildren(box,
      el("strong", {}, t("offer.new")),
      el("span", { "data-testid": "offer-group" }, groupName(offer.group)),
      el("span", { class: "badge accent", "data-testid": "offer-priority" }, t("offer.priority", { p: offer.priority ?? "?" })),
      el("span", { class: "countdown", id: "offer-countdown", "data-testid": "offer-countdown" }, ""),
      more > 0 ? el("span", { class: "muted small" }, t("offer.more", { n: more })) : null,
      el("span", { class: "grow" }),
      el("button", { type: "button", "data-testid": "offer-accept", onclick: () => accept(offer.id) }, t("offer.accept")),
    );
    box.dataset.escalation = offer.id;
    box.hidden = false;
    tickOffer();
  }

  function tickOffer() {
    const offer = nextOffer();
    if (!offer) return;
    const left = (offer.deadline - Date.now()) / 1000; // deadlines are kept on our clock (see onEvent)
    if (left <= 0) {
      removeOffer(offer.id); // the service sends `requeued` at its next sweep
      return;
    }
    const countdown = document.getElementById("offer-countdown");
    if (countdown) countdown.textContent = t("offer.left", { s: Math.ceil(left) });
    flash = !flash;
    const n = offers.size;
    document.title = flash ? t("offer.title", { n }) : baseTitle();
  }

  async function accept(id) {
    const button = document.querySelector('[data-testid="offer-accept"]');
    if (button) button.disabled = true;
    try {
      const summary = await api(`/v1/handoffs/${encodeURIComponent(id)}/accept`, { method: "POST" });
      removeOffer(id);
      accepted(summary, id);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 409 || e.status === 403 || e.status === 404)) {
        removeOffer(id);
        fail(new Error(t("offer.too_late")));
      } else {
        fail(e);
        if (button) button.disabled = false;
      }
    }
  }

  return { add: addOffer, remove: removeOffer, clear: () => offers.clear(), render: renderOffer, tick: tickOffer };
}
