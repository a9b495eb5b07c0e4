// The supervisor dashboard's formatting: numbers, shares, counts, hours and times in the configured zone
// (common.js timeZone), short ids and plurals from the catalog. Shared by dashboard.js and dashboard_charts.js.
import { t, timeZone, toDate } from "/web/common.js";

export const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
export const decimal1 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
export const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export const isNum = (v) => typeof v === "number" && Number.isFinite(v);
/** A share in [0, 1] as "42.5 %"; "–" for null. */
export const fmtShare = (v) => (isNum(v) ? percent.format(v) : "–");
export const fmtCount = (v) => (isNum(v) ? integer.format(v) : "–");
/** "payment_problem" -> "payment problem"; anything else (a sentence, odd text) as it is. */
export const humanize = (name) => {
  const s = String(name ?? "");
  return /^[a-z0-9_]+$/.test(s) ? s.replace(/_/g, " ") : s;
};
/** An hour of `hourly` (an ISO time, epoch seconds, or 0-23) as "14:00" in the configured zone. */
export function hourLabel(hour) {
  if (isNum(hour) && hour >= 0 && hour < 24) return `${String(hour).padStart(2, "0")}:00`;
  const d = toDate(hour);
  if (!d) return String(hour ?? "");
  return clockTime(d, false);
}
/** A moment as "14:05" (or "14:05:09") in the configured zone (common.js timeZone), not the browser's. */
export const clockTime = (d, seconds = true) => new Intl.DateTimeFormat(document.documentElement.lang || "en",
  { timeZone: timeZone(), hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hourCycle: "h23" }).format(d);
/** A 32-hex escalation id as its first 8 characters (the title keeps the whole); other text as it is. */
export const shortId = (id) => (/^[0-9a-f]{32}$/.test(String(id)) ? String(id).slice(0, 8) : String(id ?? "–"));
/** "1 response" / "3 responses": catalog keys `<key>.one` and `<key>.many`, with {n}. */
export const plural = (n, key) => t(`${key}.${n === 1 ? "one" : "many"}`, { n: fmtCount(n) });
