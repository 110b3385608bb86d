// The live page: polls /api/state and draws it with plain DOM and SVG (no library, no CDN: plants are offline).
// Every text from the state goes through textContent, never innerHTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const W = 600, H = 170, PAD_L = 52, PAD_R = 8, PAD_T = 8, PAD_B = 18;
const POLL_MS = 1000;

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function fmt(x, digits) {
  if (x === null || x === undefined || !isFinite(x)) return "–";
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(digits || 3);
  return Number(x.toPrecision(digits || 5)).toString();
}

function utc(t) {
  if (t === null || t === undefined) return "–";
  return new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// x/y scales of one chart from its series (nulls ignored)
function scales(ts, series) {
  let t0 = Infinity, t1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  ts.forEach((t, i) => {
    let any = false;
    for (const s of series) {
      const v = s[i];
      if (v !== null && v !== undefined && isFinite(v)) { y0 = Math.min(y0, v); y1 = Math.max(y1, v); any = true; }
    }
    if (any) { t0 = Math.min(t0, t); t1 = Math.max(t1, t); }
  });
  if (!isFinite(t0)) return null;
  if (t1 === t0) { t0 -= 1; t1 += 1; }
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.01 + 1e-9; y1 += Math.abs(y1) * 0.01 + 1e-9; }
  const m = (y1 - y0) * 0.05; y0 -= m; y1 += m;
  return {
    x: t => PAD_L + (t - t0) / (t1 - t0) * (W - PAD_L - PAD_R),
    y: v => PAD_T + (y1 - v) / (y1 - y0) * (H - PAD_T - PAD_B),
    t0, t1, y0, y1,
  };
}

// "M x y L x y ..." with a new M after each gap (null)
function linePath(ts, ys, sc) {
  let d = "", pen = false;
  ts.forEach((t, i) => {
    const v = ys[i];
    if (v === null || v === undefined || !isFinite(v)) { pen = false; return; }
    d += (pen ? "L" : "M") + sc.x(t).toFixed(1) + " " + sc.y(v).toFixed(1) + " ";
    pen = true;
  });
  return d.trim();
}

// closed polygons upper -> lower for each run of points that have both bounds
function bandPath(ts, lo, hi, sc) {
  let d = "", run = [];
  const flush = () => {
    if (run.length >= 1) {
      const up = run.map(i => sc.x(ts[i]).toFixed(1) + " " + sc.y(hi[i]).toFixed(1));
      const down = run.slice().reverse().map(i => sc.x(ts[i]).toFixed(1) + " " + sc.y(lo[i]).toFixed(1));
      if (run.length === 1) { up.push((sc.x(ts[run[0]]) + 1).toFixed(1) + " " + sc.y(hi[run[0]]).toFixed(1)); }
      d += "M" + up.join(" L") + " L" + down.join(" L") + " Z ";
    }
    run = [];
  };
  ts.forEach((t, i) => {
    const ok = lo[i] !== null && hi[i] !== null && lo[i] !== undefined && hi[i] !== undefined;
    if (ok) run.push(i); else flush();
  });
  flush();
  return d.trim();
}

function chart(kind, key, title, meta, ts, lines, band) {
  const box = el("div", {class: "chart-box " + kind, "data-key": key});
  box.appendChild(el("h3", {}, title));
  box.appendChild(el("div", {class: "meta"}, meta));
  const svg = el("svg:svg", {class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-key": key});
  const series = lines.map(l => l.values).concat(band ? [band.lower, band.upper] : []);
  const sc = scales(ts, series);
  svg.appendChild(el("svg:line", {class: "axis", x1: PAD_L, y1: H - PAD_B, x2: W - PAD_R, y2: H - PAD_B}));
  svg.appendChild(el("svg:line", {class: "axis", x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B}));
  if (sc) {
    if (band) {
      const d = bandPath(ts, band.lower, band.upper, sc);
      if (d) svg.appendChild(el("svg:path", {class: "band", d}));
    }
    for (const l of lines) {
      const d = linePath(ts, l.values, sc);
      if (d) svg.appendChild(el("svg:path", {class: l.cls, d}));
    }
    svg.appendChild(el("svg:text", {x: 2, y: PAD_T + 8}, fmt(sc.y1, 4)));
    svg.appendChild(el("svg:text", {x: 2, y: H - PAD_B}, fmt(sc.y0, 4)));
    svg.appendChild(el("svg:text", {x: PAD_L, y: H - 4}, utc(sc.t0)));
    svg.appendChild(el("svg:text", {x: W - PAD_R - 120, y: H - 4}, utc(sc.t1)));
  } else {
    svg.appendChild(el("svg:text", {x: W / 2 - 30, y: H / 2}, "no data yet"));
  }
  box.appendChild(svg);
  return box;
}

function renderStatus(s) {
  const ready = document.getElementById("ready");
  ready.textContent = s.source.ready ? "ready" : "not ready";
  ready.className = "pill " + (s.source.ready ? "ready" : "notready");
  document.getElementById("lag").textContent = s.source.lag_s === null ? "–" : fmt(s.source.lag_s, 3) + " s";
  const cal = Object.entries(s.calibration).map(([a, c]) => `${a} v${c.version}` + (c.label ? ` (${c.label})` : ""));
  document.getElementById("calibration").textContent = cal.length ? cal.join(", ") : "–";
  document.getElementById("updated").textContent = utc(s.time);
  document.getElementById("reason").textContent = s.source.reason;
}

function renderRecommendation(s) {
  const box = document.getElementById("recommendation");
  box.replaceChildren();
  const r = s.recommendation;
  if (!r) { box.appendChild(el("span", {class: "muted"}, "no recommendation yet")); return; }
  box.appendChild(el("div", {class: "text"}, r.text));
  const parts = [`asset ${r.asset}`, `at ${utc(r.t)}`];
  if (r.action) parts.unshift(`action ${r.action}`);
  box.appendChild(el("div", {class: "why"}, parts.join(" · ")));
  if (r.why) box.appendChild(el("div", {class: "why"}, "why: " + r.why));
}

function renderAlarms(s) {
  const body = document.querySelector("#alarms tbody");
  body.replaceChildren();
  const rows = s.alarms.active.concat(s.alarms.recent.slice(0, 10));
  if (!rows.length) {
    const tr = el("tr"); tr.appendChild(el("td", {colspan: 6, class: "muted"}, "no alarms")); body.appendChild(tr);
    return;
  }
  for (const a of rows) {
    const tr = el("tr", {class: "alarm sev-" + a.severity, "data-id": a.id, "data-state": a.state});
    tr.appendChild(el("td", {class: "state"}, a.state));
    tr.appendChild(el("td", {class: "sev"}, a.severity));
    tr.appendChild(el("td", {}, a.asset));
    tr.appendChild(el("td", {class: "name"}, a.name + (a.channel ? ` (${a.channel})` : "")));
    tr.appendChild(el("td", {}, utc(a.onset)));
    tr.appendChild(el("td", {class: "explanation"}, a.explanation));
    body.appendChild(tr);
  }
}

function renderDecisions(s) {
  const body = document.querySelector("#decisions tbody");
  body.replaceChildren();
  const rows = s.decisions.slice(0, 10);
  if (!rows.length) {
    const tr = el("tr"); tr.appendChild(el("td", {colspan: 6, class: "muted"}, "no decisions yet")); body.appendChild(tr);
    return;
  }
  for (const d of rows) {
    const tr = el("tr", {class: "decision decision-" + d.decision});
    tr.appendChild(el("td", {}, utc(d.t)));
    tr.appendChild(el("td", {}, d.asset));
    tr.appendChild(el("td", {}, d.kind));
    tr.appendChild(el("td", {}, d.version === null ? "–" : "v" + d.version));
    tr.appendChild(el("td", {class: "decision-text"}, d.decision));
    tr.appendChild(el("td", {class: "reason-text"}, d.reason));
    body.appendChild(tr);
  }
}

function renderChannels(s) {
  const box = document.getElementById("channels");
  box.replaceChildren();
  for (const c of s.channels) {
    const h = c.history, unit = c.unit ? ` [${c.unit}]` : "";
    const last = c.last || {};
    const meta = `measured ${fmt(last.measured)} · twin ${fmt(last.twin)} (${fmt(last.lower)} … ${fmt(last.upper)})` +
      ` · residual RMS ${fmt(c.residual_rms, 3)} · ${c.samples} samples`;
    box.appendChild(chart("channel", `${c.asset}/${c.channel}`, `${c.asset} · ${c.channel}${unit}`, meta, h.t,
      [{cls: "twin", values: h.twin}, {cls: "measured", values: h.measured}], {lower: h.lower, upper: h.upper}));
  }
  if (!s.channels.length) box.appendChild(el("span", {class: "muted"}, "no channels yet"));
}

function renderParameters(s) {
  const box = document.getElementById("parameters");
  box.replaceChildren();
  for (const p of s.parameters) {
    const h = p.history, unit = p.unit ? ` [${p.unit}]` : "", last = p.last || {};
    const meta = `estimate ${fmt(last.value)} (${fmt(last.lower)} … ${fmt(last.upper)})`;
    box.appendChild(chart("parameter", `${p.asset}/${p.name}`, `${p.asset} · ${p.name}${unit}`, meta, h.t,
      [{cls: "twin", values: h.value}], {lower: h.lower, upper: h.upper}));
  }
  if (!s.parameters.length) box.appendChild(el("span", {class: "muted"}, "no parameter estimates yet"));
}

// remaining useful life [s] as hours; null: beyond the prediction's horizon
function hours(x) { return x === null || x === undefined ? null : x / 3600; }

function renderRul(s) {
  const box = document.getElementById("rul");
  box.replaceChildren();
  for (const r of (s.rul || [])) {
    const h = r.history, last = r.last || {};
    const pct = Math.round(100 * r.level);
    const span = (x) => x === null || x === undefined ? "beyond the horizon" : fmt(x / 3600, 3) + " h";
    const when = last.median === null || last.median === undefined ? "" :
      ` · failure expected ${utc(last.t + last.median)}`;
    const meta = (r.active ? "" : "ended · ") + `RUL ${span(last.median)} (${pct} % interval ${span(last.lower)} … ` +
      `${span(last.upper)})${when}` + (r.state === null || r.state === undefined ? "" :
      ` · ${r.mode} ${fmt(r.state, 3)} of ${fmt(r.threshold, 3)}`);
    const box2 = chart("rul", `${r.asset}/${r.mode}`, `${r.asset} · ${r.mode} remaining useful life [h]`, meta, h.t,
      [{cls: "twin", values: h.median.map(hours)}], {lower: h.lower.map(hours), upper: h.upper.map(hours)});
    box2.setAttribute("data-active", String(r.active));
    box.appendChild(box2);
  }
  if (!(s.rul || []).length) box.appendChild(el("span", {class: "muted"}, "no failure mode in progress"));
}

function renderCounters(s) {
  const box = document.getElementById("counters");
  box.replaceChildren();
  const total = s.counters.samples.reduce((n, r) => n + r.count, 0);
  const quarantined = s.counters.quarantined.reduce((n, r) => n + r.count, 0);
  box.appendChild(el("span", {}, `samples in ${total}`));
  box.appendChild(el("span", {}, `quarantined ${quarantined}`));
  for (const q of s.counters.quarantined) box.appendChild(el("span", {class: "muted"}, `${q.channel}/${q.gate} ${q.count}`));
  box.appendChild(el("span", {}, `reconnects ${s.source.reconnects}`));
  box.appendChild(el("span", {}, `update latency p99 ${fmt(s.latency.p99_ms, 3)} ms`));
}

async function refresh() {
  try {
    const response = await fetch("/api/state?points=600", {cache: "no-store"});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const s = await response.json();
    renderStatus(s); renderRecommendation(s); renderAlarms(s); renderDecisions(s); renderChannels(s); renderRul(s);
    renderParameters(s); renderCounters(s);
    document.body.setAttribute("data-rendered", String(s.time));
  } catch (err) {
    const ready = document.getElementById("ready");
    ready.textContent = "no connection to the twin"; ready.className = "pill notready";
    document.getElementById("reason").textContent = String(err);
  }
}

refresh();
setInterval(refresh, POLL_MS);
