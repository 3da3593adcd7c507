/// The live page served at `/` (docs/dashboard.md): one self-contained HTML document, no external
/// script, style sheet or font (it works air-gapped). A few lines of JavaScript fetch `/api/state` every
/// second and draw plain SVG. Element ids and `data-` attributes are part of the page's contract: the
/// browser tests read them from the rendered DOM.
enum DashboardPage {
    static let html = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>StreamAdapt</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #d9dde6; --accent: #2457c5; --bad: #c33d3d; --good: #2f8f4e; --warn: #d98b1c; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #f4f6fa; }
  header { display: flex; flex-wrap: wrap; gap: 24px; align-items: baseline; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  header .meta { color: var(--muted); }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; padding: 16px 24px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
  section h2 { font-size: 14px; margin: 0 0 8px; }
  .figures { display: flex; flex-wrap: wrap; gap: 20px; }
  .figure .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .figure .k { color: var(--muted); font-size: 12px; }
  svg { width: 100%; height: auto; display: block; }
  svg text { font-size: 11px; fill: var(--muted); }
  .axis { stroke: var(--line); }
  .series { fill: none; stroke: var(--accent); stroke-width: 1.5; }
  .series.mean { stroke: #8fa8dd; stroke-width: 1; }
  .threshold { fill: none; stroke: var(--warn); stroke-width: 1.5; stroke-dasharray: 5 3; }
  .flagged { fill: var(--bad); opacity: 0.7; }
  .alert-mark { stroke-width: 1.5; }
  .alert-mark[data-state="raised"] { stroke: var(--bad); }
  .alert-mark[data-state="cleared"] { stroke: var(--good); stroke-dasharray: 3 3; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); }
  th { color: var(--muted); font-weight: 500; }
  .state-raised { color: var(--bad); font-weight: 600; }
  .state-cleared { color: var(--good); }
  .bar { height: 10px; background: var(--accent); display: inline-block; vertical-align: middle; }
  #confusion td { text-align: center; min-width: 26px; }
  .legend span { margin-right: 14px; color: var(--muted); font-size: 12px; }
  .legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }
  #status { color: var(--muted); font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>StreamAdapt</h1>
  <span class="meta" id="pipeline">-</span>
  <span class="meta">head <b id="head">-</b></span>
  <span class="meta">model version <b id="model-version">-</b></span>
  <span class="meta">checkpoint age <b id="checkpoint-age">-</b></span>
  <span id="status" data-updates="0">connecting...</span>
</header>
<main>
  <section>
    <h2>Prequential accuracy</h2>
    <div class="figures">
      <div class="figure"><div class="v" id="rolling-accuracy">-</div><div class="k">last 500 labelled</div></div>
      <div class="figure"><div class="v" id="accuracy">-</div><div class="k">since start</div></div>
      <div class="figure"><div class="v" id="events">-</div><div class="k">events predicted</div></div>
      <div class="figure"><div class="v" id="labelled">-</div><div class="k">labelled</div></div>
    </div>
    <svg id="accuracy-chart" data-axis="events" viewBox="0 0 640 220" role="img" aria-label="rolling accuracy over events"></svg>
    <div class="legend"><span><i style="background:#2457c5"></i>rolling accuracy</span><span><i style="background:#c33d3d"></i>alert raised</span><span><i style="background:#2f8f4e"></i>alert cleared</span></div>
  </section>
  <section>
    <h2>Input drift: Mahalanobis score</h2>
    <div class="figures">
      <div class="figure"><div class="v" id="threshold">-</div><div class="k">threshold (d&sup2;)</div></div>
      <div class="figure"><div class="v" id="flagged">-</div><div class="k">events flagged</div></div>
    </div>
    <svg id="score-chart" viewBox="0 0 640 220" role="img" aria-label="Mahalanobis score over events"></svg>
    <div class="legend"><span><i style="background:#2457c5"></i>largest score</span><span><i style="background:#8fa8dd"></i>mean score</span><span><i style="background:#d98b1c"></i>threshold</span><span><i style="background:#c33d3d"></i>flagged</span></div>
  </section>
  <section>
    <h2>Alerts</h2>
    <div class="figures"><div class="figure"><div class="v" id="active-alerts">-</div><div class="k">active</div></div></div>
    <table id="alerts-table"><thead><tr><th>kind</th><th>#</th><th>state</th><th>event</th><th>value</th><th>threshold</th><th>reason</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Throughput</h2>
    <div class="figures">
      <div class="figure"><div class="v" id="events-per-second">-</div><div class="k">events/s in</div></div>
      <div class="figure"><div class="v" id="predictions-per-second">-</div><div class="k">predictions/s out</div></div>
      <div class="figure"><div class="v" id="predictions">-</div><div class="k">predictions published</div></div>
      <div class="figure"><div class="v" id="lag">-</div><div class="k">consumer lag</div></div>
    </div>
    <div class="figures" style="margin-top:10px">
      <div class="figure"><div class="v" id="p50">-</div><div class="k">handle time p50 (ms)</div></div>
      <div class="figure"><div class="v" id="p90">-</div><div class="k">p90</div></div>
      <div class="figure"><div class="v" id="p99">-</div><div class="k">p99</div></div>
    </div>
  </section>
  <section>
    <h2>Per class, recent labelled events (<span id="recent-events">-</span>)</h2>
    <table id="classes-table"><thead><tr><th>class</th><th>labelled</th><th>recall</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Confusion, recent labelled events (rows: label, columns: prediction)</h2>
    <table id="confusion"><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
const NS = "http://www.w3.org/2000/svg";
function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function fmt(v, digits) { return v === null || v === undefined ? "-" : Number(v).toFixed(digits); }
function text(id, v) { document.getElementById(id).textContent = v; }
const W = 640, H = 220, L = 44, R = 22, T = 10, B = 26;
// Axes, then one polyline per series; x is the event index, y in [y0, y1].
function chart(svg, x0, x1, y0, y1, series, marks) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const sx = v => L + (x1 > x0 ? (v - x0) / (x1 - x0) : 0) * (W - L - R);
  const sy = v => H - B - (y1 > y0 ? (Math.min(Math.max(v, y0), y1) - y0) / (y1 - y0) : 0) * (H - T - B);
  el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"}, svg);
  el("line", {x1: L, y1: T, x2: L, y2: H - B, class: "axis"}, svg);
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4;
    el("text", {x: 4, y: sy(v) + 4}, svg).textContent = v >= 100 ? v.toFixed(0) : v.toFixed(2);
    const e = Math.round(x0 + (x1 - x0) * i / 4);
    const t = el("text", {x: sx(e), y: H - 8, "text-anchor": "middle"}, svg); t.textContent = e;
  }
  for (const m of marks || []) {
    el("line", {x1: sx(m.event), y1: T, x2: sx(m.event), y2: H - B, class: "alert-mark", "data-kind": m.kind, "data-state": m.state, "data-event": m.event}, svg);
  }
  for (const s of series) {
    const pts = [];
    for (let i = 0; i < s.x.length; i++) if (s.y[i] !== null && s.y[i] !== undefined) pts.push(sx(s.x[i]).toFixed(1) + "," + sy(s.y[i]).toFixed(1));
    if (s.dots) {
      for (let i = 0; i < s.x.length; i++) if (s.y[i] !== null) el("circle", {cx: sx(s.x[i]), cy: sy(s.y[i]), r: 2.5, class: s.cls, "data-event": s.x[i]}, svg);
    } else {
      el("polyline", {points: pts.join(" "), class: s.cls, "data-points": pts.length}, svg);
    }
  }
}
function render(s) {
  if (s.starting) return;
  text("pipeline", s.pipeline + " (" + s.mode + (s.group ? ", group " + s.group : "") + ")");
  text("head", s.head);
  text("model-version", s.model.version);
  text("checkpoint-age", s.model.checkpoint_age_seconds === null ? "none" : fmt(s.model.checkpoint_age_seconds, 1) + " s");
  text("rolling-accuracy", fmt(s.rolling_accuracy, 3));
  text("accuracy", fmt(s.accuracy, 3));
  text("events", s.events);
  text("labelled", s.labelled);
  text("threshold", fmt(s.threshold, 1));
  const se = s.series;
  const n = se.first.length;
  const xs = se.first.map((f, i) => f + se.count[i] - 1);
  const x1 = Math.max(1, s.events - 1);
  text("flagged", se.flagged.reduce((a, b) => a + b, 0));
  chart(document.getElementById("accuracy-chart"), 0, x1, 0, 1,
        [{x: xs, y: se.rolling_accuracy, cls: "series"}], s.alerts);
  // The y range: three times the highest threshold, or the 98th percentile of the scores (the first
  // events, before the scorer has seen much, score very high).
  const scores = se.score_max.filter(v => v !== null).sort((a, b) => a - b);
  let top = scores.length ? scores[Math.floor(0.98 * (scores.length - 1))] : 1;
  for (const t of se.threshold) if (t !== null) top = Math.max(top, t * 3);
  const flaggedY = se.flagged.map((f, i) => f > 0 ? se.score_max[i] : null);
  chart(document.getElementById("score-chart"), 0, x1, 0, top,
        [{x: xs, y: se.score_mean, cls: "series mean"}, {x: xs, y: se.score_max, cls: "series"}, {x: xs, y: se.threshold, cls: "threshold"},
         {x: xs, y: flaggedY, cls: "flagged", dots: true}],
        s.alerts.filter(a => a.kind === "input-drift"));
  const tbody = document.querySelector("#alerts-table tbody");
  tbody.innerHTML = "";
  for (const a of s.alerts.slice().reverse()) {
    const tr = document.createElement("tr");
    tr.setAttribute("data-kind", a.kind); tr.setAttribute("data-state", a.state); tr.setAttribute("data-event", a.event);
    for (const v of [a.kind, a.sequence, a.state, a.event, fmt(a.value, 3), fmt(a.threshold, 3), a.clear_reason || ""]) {
      const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
    }
    tr.children[2].className = "state-" + a.state;
    tbody.appendChild(tr);
  }
  text("active-alerts", s.active_alerts.length === 0 ? "none" : s.active_alerts.map(a => a.kind).join(", "));
  const t = s.throughput;
  text("events-per-second", fmt(t.events_per_second, 0));
  text("predictions-per-second", fmt(t.predictions_per_second, 0));
  text("predictions", t.predictions);
  text("lag", t.consumer_lag === null ? "-" : t.consumer_lag);
  text("p50", fmt(t.handle_ms_p50, 2));
  text("p90", fmt(t.handle_ms_p90, 2));
  text("p99", fmt(t.handle_ms_p99, 2));
  const rc = s.recent_classes;
  text("recent-events", rc.events);
  const ct = document.querySelector("#classes-table tbody");
  ct.innerHTML = "";
  s.classes.forEach((name, c) => {
    const tr = document.createElement("tr");
    tr.setAttribute("data-class", name);
    const r = rc.recall[c];
    tr.innerHTML = "<td></td><td>" + rc.labelled[c] + "</td><td class='recall'>" + fmt(r, 2) + "</td><td><span class='bar' style='width:" + Math.round((r || 0) * 120) + "px'></span></td>";
    tr.children[0].textContent = name;
    ct.appendChild(tr);
  });
  const cf = document.querySelector("#confusion tbody");
  cf.innerHTML = "";
  if (rc.confusion) {
    let most = 1;
    for (const row of rc.confusion) for (const v of row) most = Math.max(most, v);
    const head = document.createElement("tr");
    head.appendChild(document.createElement("th"));
    s.classes.forEach((name, c) => { const th = document.createElement("th"); th.textContent = c; th.title = name; head.appendChild(th); });
    cf.appendChild(head);
    rc.confusion.forEach((row, i) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th"); th.textContent = i + " " + s.classes[i]; tr.appendChild(th);
      row.forEach((v, j) => {
        const td = document.createElement("td"); td.textContent = v;
        const a = v / most;
        td.style.background = i === j ? "rgba(47,143,78," + a + ")" : "rgba(195,61,61," + a + ")";
        if (a > 0.6) td.style.color = "#fff";
        tr.appendChild(td);
      });
      cf.appendChild(tr);
    });
  } else {
    cf.innerHTML = "<tr><td>more than 30 classes: see the per-class recall</td></tr>";
  }
}
let updates = 0;
async function refresh() {
  try {
    const response = await fetch("api/state", {cache: "no-store"});
    const state = await response.json();
    render(state);
    updates += 1;
    const status = document.getElementById("status");
    status.setAttribute("data-updates", updates);
    status.textContent = "live, updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("status").textContent = "daemon not reachable (" + e + "), retrying";
  }
  setTimeout(refresh, 1000);
}
refresh();
</script>
</body>
</html>
"""#
}
