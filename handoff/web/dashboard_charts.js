// The supervisor dashboard's charts of the last 24 hours (Chart.js, vendored and loaded with `defer` before the
// page's modules): handoffs per hour and the median wait. dashboard.js calls `renderCharts` with each refresh.
import { el, fmtSeconds, t } from "/web/common.js";
import { fmtCount, hourLabel, integer, isNum } from "/web/dashboard_format.js";

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

const charts = {};

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function chartUnavailable(canvas) {
  const box = canvas.parentElement;
  if (!box.querySelector(".empty")) box.appendChild(el("p", { class: "empty" }, t("chart.missing")));
}

function makeChart(canvas, type, label, color, yTick, tooltip) {
  const Chart = window.Chart;
  return new Chart(canvas, {
    type,
    data: { labels: [], datasets: [{ label, data: [], backgroundColor: color, borderColor: color, borderWidth: type === "line" ? 2 : 0,
      pointRadius: type === "line" ? 2 : 0, spanGaps: false, tension: 0.25, maxBarThickness: 28 }] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (ctx) => `${label}: ${tooltip(ctx.parsed.y)}` } },
      },
      scales: {
        x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 8 } },
        y: { beginAtZero: true, ticks: { callback: yTick, precision: 0 } },
      },
    },
  });
}

/** The last 24 hours by hour: handoffs (bars) and the median wait (line), with the figures in words for screen
 * readers; without Chart.js the charts say so. */
export function renderCharts(hourly) {
  const hoursCanvas = byTestId("chart-hourly");
  const waitCanvas = byTestId("chart-wait");
  if (!window.Chart) {
    chartUnavailable(hoursCanvas);
    chartUnavailable(waitCanvas);
    return;
  }
  const rows = Array.isArray(hourly) ? hourly : [];
  const labels = rows.map((h) => hourLabel(h.hour));
  const handoffs = rows.map((h) => (isNum(h.handoffs) ? h.handoffs : null));
  const waits = rows.map((h) => (isNum(h.wait_p50_seconds) ? h.wait_p50_seconds : null));
  if (!charts.hourly) {
    charts.hourly = makeChart(hoursCanvas, "bar", t("kpi.handoffs"), cssVar("--accent", "#2457c5"),
      (v) => integer.format(v), (v) => fmtCount(v));
    charts.wait = makeChart(waitCanvas, "line", t("kpi.wait_p50"), "#c77d00",
      (v) => fmtSeconds(v), (v) => fmtSeconds(v));
  }
  for (const [chart, canvas, values] of [[charts.hourly, hoursCanvas, handoffs], [charts.wait, waitCanvas, waits]]) {
    chart.data.labels = labels;
    chart.data.datasets[0].data = values;
    if (chart === charts.wait) { // whole minutes on the axis once waits run to minutes
      const top = Math.max(0, ...values.filter(isNum));
      chart.options.scales.y.ticks.stepSize = top > 1200 ? 600 : top > 600 ? 300 : top > 150 ? 60 : undefined;
    }
    chart.update("none");
    canvas.dataset.points = String(values.length);
    canvas.dataset.values = values.map((v) => (v === null ? "" : String(v))).join(",");
  }
  const total = handoffs.reduce((a, b) => a + (b || 0), 0);
  const peak = Math.max(0, ...handoffs.map((v) => v || 0));
  hoursCanvas.setAttribute("aria-label",
    t("chart.hourly_aria", { total: fmtCount(total), peak: fmtCount(peak) }));
  hoursCanvas.textContent = hoursCanvas.getAttribute("aria-label");
  const known = waits.filter(isNum);
  waitCanvas.setAttribute("aria-label", known.length
    ? t("chart.wait_aria", { time: fmtSeconds(Math.max(...known)) })
    : t("chart.wait_aria_none"));
  waitCanvas.textContent = waitCanvas.getAttribute("aria-label");
}
