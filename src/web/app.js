// energy-monitor dashboard.
//
// One document, /api/dashboard, holds everything the first paint needs; its parts and
// their fields are documented in the README ("The dashboard document") and typed on the
// server, and this file reads nothing else from it. The page takes it from /events (Server-
// Sent Events: the whole document once, then only the sections that changed); when the
// stream cannot be had (an old browser, a 503 at the server's cap, a proxy) it polls the
// document with If-None-Match instead (an unchanged poll is a 304 with no body), pauses
// while the tab is hidden, refreshes at once when it becomes visible again, and tries the
// stream again a minute later. Each section re-renders only when one of the parts it
// reads changed (compared as JSON text), so a pushed update of one part re-renders one
// section. Data never goes through innerHTML: every text is set with textContent, every SVG
// attribute is ours. Charts are drawn at the pixel size of their box, so text in them is
// never stretched.
'use strict';

const ZONE = 'Europe/Warsaw';
const page = {
  etag: null,
  data: null,
  partText: {},
  timer: null,
  pollSeconds: 5,
  errors: [],
  firstRenderMs: null,
  polls: 0,
  notModified: 0,
  skewMs: 0,
  decisionCategory: 'all',
  decisionRange: '24h',
  decisionPage: 0,
  extraDecisions: null,
  decisionRows: new Map(),
  decisionRenders: 0,
  decisionMaxMs: 0,
  historyRange: '24h',
  history7d: null,
  hover: {},
  logStream: null,
  logTimer: null,
  events: null,
  streaming: false,
  eventsFailedAt: 0,
  eventBytes: 0,
  eventCount: 0,
};
const DECISIONS_PER_PAGE = 50;

// --- error capture (the browser test asserts that none happened) -------------------------
function recordError(message) {
  page.errors.push(String(message));
  document.documentElement.dataset.jsErrors = String(page.errors.length);
  document.documentElement.dataset.jsErrorText = page.errors.join(' | ').slice(0, 500);
}
window.addEventListener('error', (e) => recordError(e.message || e.type));
window.addEventListener('unhandledrejection', (e) => recordError('unhandled rejection: ' + e.reason));
document.documentElement.dataset.jsErrors = '0';

// --- DOM helpers ----------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function el(tag, props, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) node.setAttribute(k, String(v));
    else node[k] = v;
  }
  for (const kid of kids) {
    if (kid === null || kid === undefined) continue;
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

// Sets a figure's text and its machine-readable value (data-value); a missing value reads
// "missing" (never 0) and is styled as such.
function setText(id, text, value) {
  const node = $(id);
  if (!node) return;
  node.textContent = text;
  node.classList.toggle('missing', text === 'missing');
  if (value === undefined || value === null || Number.isNaN(value)) node.removeAttribute('data-value');
  else node.setAttribute('data-value', String(value));
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// --- formatting -----------------------------------------------------------------------
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const MISSING = 'missing';

function fmtPower(w) {
  if (!isNum(w)) return MISSING;
  const a = Math.abs(w);
  return a >= 1000 ? (w / 1000).toFixed(2) + ' kW' : Math.round(w) + ' W';
}
const fmtPrice = (p) => (isNum(p) ? p.toFixed(3) + ' PLN/kWh' : MISSING);
const fmtPln = (p) => (isNum(p) ? p.toFixed(2) + ' PLN' : MISSING);
const fmtKwh = (e) => (isNum(e) ? e.toFixed(2) + ' kWh' : MISSING);
const fmtPct = (p, d = 0) => (isNum(p) ? p.toFixed(d) + ' %' : MISSING);
const fmtChange = (c) => (isNum(c) ? (c > 0 ? '+' : '') + c.toFixed(1) + ' %' : 'not comparable');

const timeFmt = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dateTimeFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: ZONE, day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const dayFmt = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, weekday: 'short', day: 'numeric' });
const dateFmt = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' });
const hourFmt = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', hourCycle: 'h23' });
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// Instants carry an offset (RFC 3339) and are shown in Europe/Warsaw.
function parseTime(s) {
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}
const fmtTime = (s) => { const t = parseTime(s); return t === null ? '–' : timeFmt.format(t); };
const fmtDateTime = (s) => { const t = parseTime(s); return t === null ? '–' : dateTimeFmt.format(t); };
const localDate = (t) => dateFmt.format(t); // YYYY-MM-DD in Warsaw

function fmtAge(seconds) {
  if (!isNum(seconds)) return 'never';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return (s / 3600).toFixed(1) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}
function fmtDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return '–';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return d + 'd ' + h + 'h';
  if (h > 0) return h + 'h ' + m + 'm';
  if (m > 0) return m + 'm ' + (s % 60) + 's';
  return s + 's';
}
// Ages are measured against the server's clock (its Date header), not the browser's.
const serverNow = () => Date.now() + page.skewMs;
const ageOf = (iso) => { const t = parseTime(iso); return t === null ? null : (serverNow() - t) / 1000; };
// "2026-12-01..2026-12-02" → "1–2 Dec 2026"; a whole month (null) → "November 2026".
function fmtDays(days, period) {
  const m = /^(\d{4})-(\d{2})-(\d{2})\.\.(\d{4})-(\d{2})-(\d{2})$/.exec(days || '');
  if (!m) return period.month_name + ' ' + period.year;
  const a = Number(m[3]), b = Number(m[6]);
  return (a === b ? String(a) : a + '–' + b) + ' ' + MONTHS[Number(m[2]) - 1] + ' ' + m[1];
}

// --- the document's parts -------------------------------------------------------------
function part(name) {
  return page.data ? page.data[name] : null;
}
function unavailableReason(name) {
  const u = page.data && page.data.unavailable && page.data.unavailable[name];
  if (!u) return null;
  return typeof u.reason === 'string' ? u.reason : 'unavailable';
}
function missingNote(what, name) {
  const r = unavailableReason(name);
  return what + ' unavailable' + (r ? ': ' + r : '') + '.';
}
// Marks a panel stale (greyed figures) and says how old its data is; '' when fresh.
function staleNote(ids, what, freshness, at) {
  const stale = !!freshness && freshness !== 'fresh';
  for (const id of [].concat(ids)) {
    $(id).classList.toggle('stale', stale);
    $(id).dataset.freshness = freshness || '';
  }
  if (!stale) return '';
  return what + ' is ' + freshness + (at ? ': from ' + fmtDateTime(at) + ' (' + fmtAge(ageOf(at)) + ')' : '') + '.';
}

// --- charts ---------------------------------------------------------------------------
// A chart is drawn in pixels: its viewBox is the box's own size, so 1 unit is 1 CSS pixel
// and text keeps the page's font size at every width. Hidden panels have no box yet; they
// are drawn at the width of <main> and redrawn when shown.
function chartBox(chart) {
  let w = chart.clientWidth;
  if (!w) {
    const main = document.querySelector('main');
    w = Math.max(280, main.clientWidth - 40);
  }
  const h = chart.clientHeight || parseFloat(getComputedStyle(chart).height) || 240;
  clear(chart);
  chart.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  chart.dataset.width = String(w);
  chart.dataset.height = String(h);
  return { w, h };
}
// Hover or tap on a chart shows the values at that point in its readout line.
function setHover(chart, readout, left, right, n, text) {
  page.hover[chart.id] = { readout, left, right, n, text };
}
function onHover(e) {
  const chart = e.currentTarget;
  const h = page.hover[chart.id];
  if (!h || h.n === 0) return;
  const rect = chart.getBoundingClientRect();
  const x = e.clientX - rect.left;
  const i = Math.max(0, Math.min(h.n - 1, Math.floor(((x - h.left) / (h.right - h.left)) * h.n)));
  $(h.readout).textContent = h.text(i);
  let cursor = chart.querySelector('.cursor');
  if (!cursor) {
    cursor = svg('line', { class: 'cursor', y1: 0, y2: rect.height });
    chart.append(cursor);
  }
  const cx = h.left + ((i + 0.5) / h.n) * (h.right - h.left);
  cursor.setAttribute('x1', cx);
  cursor.setAttribute('x2', cx);
}
function yTicks(min, max, count) {
  const span = max - min || 1;
  const raw = span / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) out.push(Math.abs(v) < 1e-9 ? 0 : v);
  return out;
}
function yAxis(chart, y, ticks, left, right, digits, unit) {
  // Enough decimals to tell the ticks apart (2.5 is never shown as 3).
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  for (let d = digits; d <= 3; d++) {
    digits = d;
    if (Math.abs(Number(step.toFixed(d)) - step) < 1e-9) break;
  }
  for (const t of ticks) {
    chart.append(svg('line', { class: t === 0 ? 'zero' : 'axis', x1: left, x2: right, y1: y(t), y2: y(t) }));
    chart.append(svg('text', { x: left - 4, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, t.toFixed(digits)));
  }
  chart.append(svg('text', { x: 2, y: 14, class: 'tick unit' }, unit));
}

// --- header ---------------------------------------------------------------------------
function renderHeader() {
  const status = part('status');
  const badge = $('coordinator-badge');
  const c = status && status.coordinator;
  let state = 'unknown', text = 'coordinator: unknown';
  if (c && c.simulated) { state = 'simulated'; text = 'coordinator simulated by the demo'; }
  else if (status && status.coordinator_running === true) { state = 'running'; text = 'coordinator running'; }
  else if (status && status.coordinator_running === false) { state = 'stopped'; text = 'coordinator NOT running'; }
  else if (status) text = 'coordinator: checking…';
  badge.textContent = text;
  badge.className = 'badge badge-' + state;
  badge.dataset.state = state;

  const box = $('source-badges');
  clear(box);
  const expected = [];
  if (c && c.simulated) expected.push('coordinator: no process is looked for; the demo simulates the coordinator and its data');
  const sources = (status && status.sources) || {};
  for (const [name, s] of Object.entries(sources)) {
    const absent = s.expected_absence;
    if (absent) expected.push(name + ': ' + absent);
    const shown = absent ? 'expected' : s.state;
    const age = ageOf(s.observed_at || s.changed_at);
    const text = name + ' ' + (absent ? 'not on this machine' : s.state === 'unavailable' ? 'unavailable' : fmtAge(age));
    box.append(el('span', {
      class: 'badge badge-' + shown, 'data-source': name, 'data-state': s.state,
      title: absent ? name + ': ' + absent : s.last_error ? name + ': ' + s.last_error : name + ': ' + s.state,
    }, text));
  }
  const problems = (status && status.problems) || [];
  const list = $('problem-list');
  clear(list);
  for (const p of problems) list.append(el('li', {}, p));
  const exp = $('expected-list');
  clear(exp);
  for (const p of expected) exp.append(el('li', {}, p));
  const chip = $('status-chip');
  const chipState = !status ? 'unknown' : problems.length ? 'bad' : 'ok';
  chip.className = 'chip chip-' + chipState;
  chip.dataset.state = chipState;
  chip.dataset.problems = String(problems.length);
  chip.textContent = !status ? 'status unknown'
    : problems.length === 0 ? 'all sources fresh'
      : problems.length + ' problem' + (problems.length > 1 ? 's' : '');
  chip.title = problems.length ? problems.join('\n')
    : 'Show the state of every source' + (expected.length ? ' (' + expected.length + ' expected absence' + (expected.length > 1 ? 's' : '') + ')' : '');
  // Prices carry no freshness of their own: their source's state greys the Prices panel.
  const ps = sources.prices;
  $('prices-stale').textContent = ps ? staleNote('panel-prices', 'The price data', ps.state === 'unavailable' ? null : ps.state, ps.observed_at) : '';
  const demo = page.data && page.data.demo === true;
  $('demo-banner').hidden = !demo;
  document.documentElement.dataset.demo = String(demo);
}

// --- now ------------------------------------------------------------------------------
// Directions are relative to the house's connection point (the hub): `in` = power flows
// into the hub (PV producing, battery discharging, grid importing), `out` = out of it
// (house consuming, battery charging, grid exporting).
function flowDir(id, dir) {
  $(id).dataset.flow = dir;
}
function drawHub(dirs) {
  const hub = $('flow-hub');
  clear(hub);
  const ends = { pv: [50, 0], grid: [0, 50], house: [100, 50], battery: [50, 100] };
  for (const [name, [x, y]] of Object.entries(ends)) {
    const dir = dirs[name] || 'none';
    hub.append(svg('line', dir === 'in'
      ? { x1: x, y1: y, x2: 50, y2: 50, class: 'in', 'data-flow': name }
      : { x1: 50, y1: 50, x2: x, y2: y, class: dir === 'out' ? 'out' : 'idle', 'data-flow': name }));
    if (dir !== 'none') {
      // An arrowhead two thirds along the line, pointing the way the power flows.
      const [fx, fy, tx, ty] = dir === 'in' ? [x, y, 50, 50] : [50, 50, x, y];
      const ax = fx + (tx - fx) * 0.62, ay = fy + (ty - fy) * 0.62;
      const ang = Math.atan2(ty - fy, tx - fx);
      const p = (a, r) => (ax + Math.cos(a) * r).toFixed(1) + ',' + (ay + Math.sin(a) * r).toFixed(1);
      hub.append(svg('polygon', { class: 'arrow', points: p(ang, 7) + ' ' + p(ang + 2.5, 6) + ' ' + p(ang - 2.5, 6) }));
    }
  }
  hub.append(svg('circle', { cx: 50, cy: 50, r: 9 }));
}
const INVERTER_CARDS = ['flow-card', 'battery-card', 'today-card'];
function renderNow() {
  const cs = part('current_state');
  const prices = part('prices');
  const decisions = part('decisions');
  const notes = [];
  const dirs = {};
  if (!cs) {
    notes.push(missingNote('Inverter data', 'current_state'));
    staleNote(INVERTER_CARDS, '', null, null);
    for (const id of ['now-pv', 'now-soc', 'now-soc-big', 'now-battery', 'now-battery-power', 'now-grid', 'now-grid-dir', 'now-house',
      'today-pv', 'today-house', 'today-import', 'today-export', 'today-self']) setText(id, MISSING);
    for (const id of ['now-pv-dir', 'now-house-dir']) setText(id, '');
  } else {
    const stale = staleNote(INVERTER_CARDS, 'The inverter reading', cs.freshness, cs.data_timestamp);
    if (stale) notes.push(stale);
    const pv = cs.photovoltaic.current_power_w;
    setText('now-pv', fmtPower(pv), pv);
    dirs.pv = isNum(pv) && pv > 0 ? 'in' : 'none';
    setText('now-pv-dir', !isNum(pv) ? '' : pv > 0 ? 'producing' : 'not producing');
    const soc = cs.battery.soc_percent;
    setText('now-soc', fmtPct(soc), soc);
    setText('now-soc-big', fmtPct(soc), soc);
    // Inverter sign convention: battery power is positive while discharging.
    const bp = cs.battery.power_w;
    dirs.battery = !isNum(bp) || bp === 0 ? 'none' : bp > 0 ? 'in' : 'out';
    const bText = !isNum(bp) ? MISSING : bp < 0 ? 'charging ' + fmtPower(-bp) : bp > 0 ? 'discharging ' + fmtPower(bp) : 'idle';
    setText('now-battery', bText, bp);
    setText('now-battery-power', bText, bp);
    // Inverter sign convention: negative = import from the grid.
    const grid = cs.grid.current_power_w;
    dirs.grid = !isNum(grid) || grid === 0 ? 'none' : grid < 0 ? 'in' : 'out';
    setText('now-grid', fmtPower(isNum(grid) ? Math.abs(grid) : null), grid);
    setText('now-grid-dir', !isNum(grid) ? MISSING : grid < 0 ? 'importing' : grid > 0 ? 'exporting' : 'balanced');
    const house = cs.house_consumption.current_power_w;
    dirs.house = isNum(house) && house > 0 ? 'out' : 'none';
    setText('now-house', fmtPower(house), house);
    setText('now-house-dir', isNum(house) ? 'using' : '');
    const gen = cs.photovoltaic.daily_generation_kwh, used = cs.house_consumption.daily_consumption_kwh;
    const imp = cs.grid.daily_import_kwh, exp = cs.grid.daily_export_kwh;
    setText('today-pv', fmtKwh(gen), gen);
    setText('today-house', fmtKwh(used), used);
    setText('today-import', fmtKwh(imp), imp);
    setText('today-export', fmtKwh(exp), exp);
    const self = isNum(used) && isNum(imp) && used > 0 ? Math.max(0, Math.min(100, ((used - imp) / used) * 100)) : null;
    setText('today-self', fmtPct(self), self);
  }
  for (const n of ['pv', 'grid', 'house', 'battery']) flowDir('flow-' + n, dirs[n] || 'none');
  drawHub(dirs);
  renderBatteryTrend();
  renderNowPrice(prices, notes);
  renderLatestDecision(decisions, notes);
  $('now-note').textContent = notes.join(' ');
}
function renderBatteryTrend() {
  const h = part('history');
  if (!h) { $('now-battery-trend').textContent = 'last hour: history unavailable'; return; }
  // The last hour of 5-minute samples: the oldest and the newest SOC in it.
  const end = h.instants.length;
  let first = null, last = null;
  for (let i = Math.max(0, end - 13); i < end; i++) {
    if (!isNum(h.soc_data[i])) continue;
    if (first === null) first = i;
    last = i;
  }
  if (first === null || first === last) { $('now-battery-trend').textContent = 'last hour: no samples to compare'; return; }
  const d = h.soc_data[last] - h.soc_data[first];
  $('now-battery-trend').textContent = 'last hour: ' + (d > 0 ? '+' : '') + d.toFixed(0) + ' % (from ' + h.soc_data[first].toFixed(0) + ' % at ' + fmtTime(h.instants[first]) + ')';
  $('now-battery-trend').dataset.value = String(d);
}
function renderNowPrice(prices, notes) {
  if (!prices) {
    setText('now-price', MISSING);
    setText('now-price-rank', '');
    setText('now-zone', missingNote('Prices', 'prices'));
    setText('now-window', '');
    return;
  }
  const cur = prices.current;
  const price = cur ? cur.final_price_pln_kwh : null;
  setText('now-price', fmtPrice(price), price);
  setText('now-zone', cur && cur.tariff_zone ? 'tariff zone ' + cur.tariff_zone : (cur ? '' : 'no valid price for this quarter'));
  const rank = $('now-price-rank');
  const today = prices.quarters.today.map((q) => q.final_price_pln_kwh);
  if (isNum(price) && today.length) {
    const below = today.filter((p) => p < price).length / today.length;
    const cls = below < 1 / 3 ? 'cheap' : below > 2 / 3 ? 'expensive' : 'mid';
    rank.className = 'rank rank-' + cls;
    rank.dataset.rank = cls;
    rank.textContent = (cls === 'cheap' ? 'cheap' : cls === 'expensive' ? 'expensive' : 'middle') + ' for today: dearer than '
      + Math.round(below * 100) + ' % of today\'s quarters (' + Math.min(...today).toFixed(2) + '–' + Math.max(...today).toFixed(2) + ')';
  } else {
    rank.textContent = '';
  }
  const w = prices.windows.ahead.cheapest['2h'];
  setText('now-window', w ? 'Cheapest 2 h ahead: ' + windowText(w) : 'No 2-hour window ahead in the published prices.', w ? w.average_final_pln_kwh : null);
}
function windowText(w) {
  const day = localDate(parseTime(w.start_utc)) === localDate(serverNow()) ? '' : dayFmt.format(parseTime(w.start_utc)) + ' ';
  return day + fmtTime(w.start_utc) + '–' + fmtTime(w.end_utc) + ', ' + fmtPrice(w.average_final_pln_kwh);
}
const actionText = (d) => (d.action || 'no action') + (d.action === d.category ? '' : ' (' + d.category + ')');
function renderLatestDecision(decisions, notes) {
  const card = $('decision-card');
  const list = decisions ? decisions.decisions : null;
  if (!decisions) {
    setText('now-decision-action', MISSING);
    setText('now-decision-when', '');
    setText('now-decision-reason', missingNote('Decisions', 'decisions'));
    setText('now-decision-prev', '');
    return;
  }
  card.classList.toggle('stale', decisions.freshness !== 'fresh');
  if (!list.length) {
    setText('now-decision-action', 'none in the last 24 h');
    setText('now-decision-when', '');
    setText('now-decision-reason', '');
    setText('now-decision-prev', '');
    return;
  }
  const d = list[0];
  setText('now-decision-action', actionText(d));
  setText('now-decision-when', 'at ' + fmtDateTime(d.instant) + ' (' + fmtAge(ageOf(d.instant)) + ')');
  setText('now-decision-reason', d.reason || 'no reason given');
  const p = list[1];
  setText('now-decision-prev', (p ? 'Before that, at ' + fmtTime(p.instant) + ': ' + actionText(p) + '. ' : '') + 'The coordinator does not publish its next decision.');
  if (decisions.freshness !== 'fresh') notes.push('Decisions are ' + decisions.freshness + '.');
}

// --- prices ---------------------------------------------------------------------------
function cheapStarts(prices) {
  // Quarter starts inside the cheapest windows (today's and those ahead), to highlight them.
  const set = new Set();
  for (const group of [prices.windows.today, prices.windows.ahead]) {
    for (const w of Object.values(group.cheapest)) {
      if (!w) continue;
      const start = parseTime(w.start_utc), end = parseTime(w.end_utc);
      for (let t = start; t < end; t += 15 * 60 * 1000) set.add(t);
    }
  }
  return set;
}
function renderPrices() {
  const prices = part('prices');
  const chart = $('price-chart');
  // No empty chart frames: a chart without data is hidden and its note says why.
  $('price-wrap').hidden = !prices;
  if (!prices) {
    clear(chart);
    $('prices-note').textContent = missingNote('Prices', 'prices');
    $('tomorrow-status').textContent = '';
    $('price-summary').textContent = '';
    clear($('price-windows'));
    chart.setAttribute('data-bars', '0');
    return;
  }
  $('prices-note').textContent = prices.origin === 'demo' ? 'Synthetic demo prices.' : '';
  const market = $('price-market').checked;
  const rows = prices.quarters.today.map((q) => ({ q, day: 'today' }))
    .concat(prices.quarters.tomorrow.map((q) => ({ q, day: 'tomorrow' })));
  const value = (r) => (market ? r.q.market_price_pln_kwh : r.q.final_price_pln_kwh);
  const values = rows.map(value);
  const ticks = yTicks(Math.min(0, ...values), Math.max(0.1, ...values), 4);
  const min = Math.min(ticks[0], ...values), max = Math.max(ticks[ticks.length - 1], ...values);
  const { w: W, h: H } = chartBox(chart);
  const top = 24, bottom = 22, left = 44, right = W - 6;
  const y = (v) => top + ((max - v) / (max - min || 1)) * (H - top - bottom);
  const bw = (right - left) / Math.max(rows.length, 1);
  chart.setAttribute('data-bars', String(rows.length));
  yAxis(chart, y, ticks, left, right, 2, 'PLN/kWh');
  const cheap = cheapStarts(prices);
  const nowStart = prices.current ? parseTime(prices.current.start_utc) : null;
  // Hour labels at least ~56 px apart, on whole hours.
  const every = [4, 8, 12, 16, 24, 48].find((k) => k * bw >= 56) || 48;
  let splitDrawn = false;
  rows.forEach((r, i) => {
    const v = value(r);
    const x = left + i * bw;
    if (r.day === 'tomorrow' && !splitDrawn) {
      chart.append(svg('line', { class: 'day-split', x1: x, x2: x, y1: top, y2: H - bottom }));
      splitDrawn = true;
    }
    const y0 = y(Math.max(v, 0)), y1 = y(Math.min(v, 0));
    const start = parseTime(r.q.start_utc);
    const cls = 'bar' + (r.day === 'tomorrow' ? ' tomorrow' : '') + (v < 0 ? ' neg' : '') + (cheap.has(start) ? ' cheap' : '');
    // The values of a bar are shown in the readout above the chart on hover or tap.
    chart.append(svg('rect', { class: cls, x: (x + 0.15 * bw).toFixed(2), y: y0.toFixed(1), width: Math.max(bw * 0.7, 0.8).toFixed(2), height: Math.max(y1 - y0, 0.5).toFixed(1), 'data-value': v }));
    if (nowStart !== null && start === nowStart) {
      chart.append(svg('rect', { class: 'now-marker', x: x.toFixed(2), y: top, width: Math.max(bw, 2).toFixed(2), height: H - top - bottom, 'data-now': '1' }));
    }
    if ((start / 60000) % 60 !== 0 || x + 40 >= right) return;
    const label = fmtTime(r.q.start_utc);
    const hour = Number(label.slice(0, 2));
    if (hour % (every / 4) === 0) {
      chart.append(svg('text', { x: x.toFixed(1), y: H - 6, class: 'tick' }, r.day === 'tomorrow' && hour === 0 ? 'tomorrow' : label));
    }
  });
  setHover(chart, 'price-readout', left, right, rows.length, (i) => priceText(rows[i]));
  const status = prices.tomorrow_status;
  $('tomorrow-status').textContent = status === 'published' ? 'Tomorrow (' + prices.tomorrow_business_date + '): published.'
    : status === 'not_yet_published' ? 'Tomorrow\'s prices are not yet published (PSE publishes them in the early afternoon).'
      : status === 'error' ? 'Tomorrow\'s prices could not be fetched: ' + (prices.tomorrow_error || 'see the prices source in Host.')
        : '';
  $('tomorrow-status').dataset.status = status;
  const avg = prices.average_price_pln_kwh;
  $('price-summary').textContent = rows.length + ' quarters' + (isNum(avg) ? ' · today\'s average ' + fmtPrice(avg) : '');
  renderWindows(prices);
}
function priceText(r) {
  return (r.day === 'tomorrow' ? 'tomorrow ' : '') + fmtTime(r.q.start_utc) + '–' + fmtTime(r.q.end_utc)
    + ': final ' + fmtPrice(r.q.final_price_pln_kwh) + ', market ' + fmtPrice(r.q.market_price_pln_kwh)
    + (r.q.tariff_zone ? ', zone ' + r.q.tariff_zone : '');
}
// Windows in plain words, grouped: the whole of today (those already over greyed), and
// what is still ahead (today's rest and tomorrow, once published).
function renderWindows(prices) {
  const box = $('price-windows');
  clear(box);
  const now = serverNow();
  const groups = [['Today (' + prices.business_date + ')', prices.windows.today, 'today'], ['From now on', prices.windows.ahead, 'ahead']];
  for (const [title, set, key] of groups) {
    const ul = el('ul');
    for (const [kind, label] of [['cheapest', 'Cheapest'], ['most_expensive', 'Most expensive']]) {
      for (const len of Object.keys(set[kind]).sort()) {
        const w = set[kind][len];
        if (!w) continue;
        const over = parseTime(w.end_utc) <= now;
        ul.append(el('li', { class: over ? 'past' : '', 'data-window': key + '-' + kind + '-' + len, 'data-over': String(over) },
          label + ' ' + len.replace('h', ' h') + ': ' + windowText(w) + (over ? ' (over)' : '')));
      }
    }
    box.append(el('div', { class: 'card window-group' }, el('h3', {}, title), ul));
  }
}

// --- decisions ------------------------------------------------------------------------
// The table shows one page of DECISIONS_PER_PAGE rows. Decisions never change once made,
// so a row is built once per decision and reused; an update only adds new rows and moves
// existing ones. Each update is timed (data-decisions-render-ms).
function decisionKey(d) {
  return String(d.id === null || d.id === undefined ? '' : d.id) + '|' + (d.instant || '') + '|' + (d.action || '');
}
function decisionRow(d) {
  return el('tr', { 'data-category': d.category },
    el('td', { class: 'num' }, fmtDateTime(d.instant)),
    el('td', { class: 'cat-' + d.category }, d.category),
    el('td', {}, d.action || '–'),
    el('td', { class: 'num' }, fmtPct(d.battery_soc)),
    el('td', { class: 'num' }, fmtPrice(d.current_price)),
    el('td', { class: 'num' }, fmtKwh(d.energy_kwh)),
    el('td', { class: 'reason' }, d.reason || ''));
}
function renderDecisions() {
  const t0 = performance.now();
  const source = page.decisionRange === '24h' ? part('decisions') : page.extraDecisions;
  const body = $('decision-table').tBodies[0];
  if (!source) {
    clear(body);
    page.decisionRows.clear();
    $('decisions-note').textContent = page.decisionRange === '24h' ? missingNote('Decisions', 'decisions') : 'Loading decisions for ' + page.decisionRange + '…';
    $('decision-counts').textContent = '';
    $('decision-page').textContent = '';
    return;
  }
  $('decisions-note').textContent = staleNote('panel-decisions', 'The decision list', source.freshness, null);
  const all = source.decisions; // newest first, as served
  const rows = page.decisionCategory === 'all' ? all : all.filter((d) => d.category === page.decisionCategory);
  const pages = Math.max(1, Math.ceil(rows.length / DECISIONS_PER_PAGE));
  page.decisionPage = Math.min(page.decisionPage, pages - 1);
  const from = page.decisionPage * DECISIONS_PER_PAGE;
  const shown = rows.slice(from, from + DECISIONS_PER_PAGE);
  const keep = new Map();
  let at = body.firstChild;
  for (const d of shown) {
    const key = decisionKey(d);
    let tr = page.decisionRows.get(key);
    if (!tr) tr = decisionRow(d);
    keep.set(key, tr);
    if (tr === at) at = at.nextSibling;
    else body.insertBefore(tr, at);
  }
  while (at) { const next = at.nextSibling; body.removeChild(at); at = next; }
  page.decisionRows = keep;
  $('decision-counts').textContent = rows.length + ' shown of ' + all.length + ' in ' + source.time_range
    + ' (' + source.charging_count + ' charging, ' + source.battery_selling_count + ' selling, ' + source.wait_count + ' wait)';
  $('decision-page').textContent = rows.length ? (from + 1) + '–' + (from + shown.length) + ' of ' + rows.length : 'none';
  $('decision-prev').disabled = page.decisionPage === 0;
  $('decision-next').disabled = page.decisionPage >= pages - 1;
  const ms = performance.now() - t0;
  page.decisionRenders += 1;
  page.decisionMaxMs = Math.max(page.decisionMaxMs, ms);
  const root = document.documentElement.dataset;
  root.decisionsRenderMs = ms.toFixed(2);
  root.decisionsRenders = String(page.decisionRenders);
  root.decisionsMaxMs = page.decisionMaxMs.toFixed(2);
}
async function loadDecisionRange(range) {
  page.decisionRange = range;
  page.decisionPage = 0;
  if (range === '24h') { page.extraDecisions = null; renderDecisions(); return; }
  await refreshExtraDecisions(true);
}
// The other ranges come from /decisions itself (the same body shape), fetched again when
// the dashboard's decisions changed.
async function refreshExtraDecisions(reset) {
  const range = page.decisionRange;
  if (range === '24h') return;
  if (reset) { page.extraDecisions = null; renderDecisions(); }
  try {
    const r = await fetch('/decisions?time_range=' + encodeURIComponent(range), { cache: 'no-store' });
    if (range !== page.decisionRange) return;
    if (!r.ok) { $('decisions-note').textContent = 'Decisions for ' + range + ' unavailable (HTTP ' + r.status + ').'; return; }
    page.extraDecisions = await r.json();
    renderDecisions();
  } catch (e) {
    $('decisions-note').textContent = 'Decisions for ' + range + ' unavailable: ' + e.message;
  }
}

// --- savings --------------------------------------------------------------------------
function renderSavings() {
  const month = part('month');
  const kpis = $('month-kpis');
  clear(kpis);
  const notes = [];
  $('savings-wrap').hidden = !month;
  if (!month) {
    notes.push(missingNote('Month summary', 'month'));
    clear($('savings-chart'));
  } else {
    const stale = staleNote('panel-savings', 'The month summary', month.freshness, month.generated_at);
    if (stale) notes.push(stale);
    $('month-title').textContent = month.month_name + ' ' + month.year + ' (month to date, ' + month.days_with_data + ' day' + (month.days_with_data === 1 ? '' : 's') + ' with data)';
    const mtd = part('metrics') ? part('metrics').month_to_date : {};
    const cards = [
      ['Charging cost', fmtPln(month.total_cost_pln), month.total_cost_pln, 'month-cost'],
      ['Savings (coordinator estimate)', fmtPln(month.total_savings_pln), month.total_savings_pln, 'month-savings-total'],
      ['Energy charged', fmtKwh(month.total_energy_kwh), month.total_energy_kwh, 'month-energy'],
      ['Average price paid', fmtPrice(month.avg_cost_per_kwh), month.avg_cost_per_kwh, 'month-avg'],
      ['Savings vs daily average (estimated)', fmtPln(mtd.savings_vs_daily_average_pln), mtd.savings_vs_daily_average_pln, 'month-savings'],
      ['Selling revenue (successful sales)', fmtPln(mtd.selling_revenue_pln), mtd.selling_revenue_pln, 'month-selling'],
      ['Charged in cheapest quarter-hours', fmtPct(mtd.cheapest_quarter_share_percent, 1), mtd.cheapest_quarter_share_percent, 'month-cheapest'],
      ['Decisions', String(month.total_decisions), month.total_decisions, 'month-decisions'],
    ];
    for (const [label, text, value, id] of cards) {
      kpis.append(el('div', { class: 'card' }, el('h2', {}, label),
        el('p', { class: 'big' + (text === MISSING ? ' missing' : ''), id, 'data-value': isNum(value) ? value : null }, text)));
    }
    drawSavings(month);
  }
  renderComparison();
  $('savings-note').textContent = notes.join(' ');
}
// One pair of bars (cost, savings) per day with data; a day up to today without data is a
// dashed gap, never a zero bar; days still to come are empty.
function drawSavings(month) {
  const chart = $('savings-chart');
  const { w: W, h: H } = chartBox(chart);
  const days = new Date(Date.UTC(month.year, month.month, 0)).getUTCDate();
  const today = localDate(serverNow());
  const prefix = month.year + '-' + String(month.month).padStart(2, '0') + '-';
  const byDate = new Map(month.daily_summaries.map((d) => [d.date, d]));
  const slots = [];
  for (let i = 1; i <= days; i++) {
    const date = prefix + String(i).padStart(2, '0');
    slots.push({ day: i, date, d: byDate.get(date), future: date > today });
  }
  const vals = [];
  for (const s of slots) {
    if (!s.d) continue;
    for (const v of [s.d.total_cost_pln, s.d.total_savings_pln]) if (isNum(v)) vals.push(v);
  }
  const ticks = yTicks(Math.min(0, ...vals), Math.max(1, ...vals), 4);
  const min = Math.min(ticks[0], ...vals), max = Math.max(ticks[ticks.length - 1], ...vals);
  const top = 24, bottom = 22, left = 44, right = W - 6;
  const y = (v) => top + ((max - v) / (max - min || 1)) * (H - top - bottom);
  yAxis(chart, y, ticks, left, right, max - min < 5 ? 1 : 0, 'PLN');
  const bw = (right - left) / days;
  let bars = 0, gaps = 0;
  const labelEvery = bw >= 24 ? 1 : bw >= 12 ? 2 : 5;
  for (const [i, s] of slots.entries()) {
    const x = left + i * bw;
    const has = s.d && (isNum(s.d.total_cost_pln) || isNum(s.d.total_savings_pln));
    if (has) {
      bars += 1;
      [['bar-cost', s.d.total_cost_pln, 0], ['bar-savings', s.d.total_savings_pln, 1]].forEach(([cls, v, k]) => {
        if (!isNum(v)) return;
        const y0 = y(Math.max(v, 0)), y1 = y(Math.min(v, 0));
        const r = svg('rect', { class: cls, x: (x + bw * (0.1 + 0.4 * k)).toFixed(2), y: y0.toFixed(1), width: Math.max(bw * 0.4, 1).toFixed(2), height: Math.max(y1 - y0, 0.5).toFixed(1), 'data-day': s.date, 'data-value': v });
        r.append(svg('title', {}, savingsText(s)));
        chart.append(r);
      });
    } else if (!s.future) {
      gaps += 1;
      const g = svg('rect', { class: 'gap-mark', x: (x + bw * 0.15).toFixed(2), y: top, width: Math.max(bw * 0.7, 1).toFixed(2), height: H - top - bottom, 'data-gap': s.date });
      g.append(svg('title', {}, savingsText(s)));
      chart.append(g);
    }
    if ((s.day - 1) % labelEvery === 0) chart.append(svg('text', { x: (x + bw / 2).toFixed(1), y: H - 6, 'text-anchor': 'middle', class: 'tick' }, s.day));
  }
  chart.dataset.days = String(days);
  chart.dataset.bars = String(bars);
  chart.dataset.gaps = String(gaps);
  setHover(chart, 'savings-readout', left, right, days, (i) => savingsText(slots[i]));
}
function savingsText(s) {
  if (s.future) return s.date + ': still to come';
  if (!s.d) return s.date + ': no data for this day';
  return s.date + ': cost ' + fmtPln(s.d.total_cost_pln) + ', savings ' + fmtPln(s.d.total_savings_pln) + ', charged ' + fmtKwh(s.d.total_energy_kwh);
}
function renderComparison() {
  const cmp = part('comparison');
  const body = $('comparison-table').tBodies[0];
  const prevBody = $('previous-table').tBodies[0];
  clear(body);
  clear(prevBody);
  if (!cmp) {
    body.append(el('tr', {}, el('td', { colSpan: 4 }, missingNote('Comparison', 'comparison'))));
    return;
  }
  const cur = cmp.current_month, same = cmp.previous_month_same_days, prev = cmp.previous_month;
  const head = $('comparison-table').tHead.rows[0].cells;
  head[1].textContent = fmtDays(cur.days, cur);
  head[2].textContent = fmtDays(same.days, same);
  $('comparison-title').textContent = 'Like for like: ' + fmtDays(cur.days, cur) + ' against ' + fmtDays(same.days, same);
  $('previous-title').textContent = 'The previous month: ' + prev.month_name + ' ' + prev.year + ' (' + prev.days_with_data + ' days with data)';
  const rows = [
    ['Charging cost', 'total_cost_pln', fmtPln, 'cost_change_pct'],
    ['Savings (coordinator estimate)', 'total_savings_pln', fmtPln, 'savings_change_pct'],
    ['Energy charged', 'total_energy_kwh', fmtKwh, 'energy_change_pct'],
  ];
  const cell = (text) => el('td', { class: 'num' + (text === MISSING ? ' missing' : '') }, text);
  for (const [label, key, fmt, change] of rows) {
    body.append(el('tr', { 'data-row': key }, el('td', {}, label), cell(fmt(cur[key])), cell(fmt(same[key])), cell(fmtChange(cmp.changes[change]))));
    prevBody.append(el('tr', { 'data-row': key }, el('td', {}, label), cell(fmt(prev[key])), cell(fmtChange(cmp.changes_full_month[change]))));
  }
  $('previous-table').tHead.rows[0].cells[1].textContent = prev.month_name + ' ' + prev.year;
  $('previous-table').tHead.rows[0].cells[2].textContent = fmtDays(cur.days, cur) + ' against it';
}

// --- history --------------------------------------------------------------------------
function linePath(points, x, y) {
  // Gaps (null) break the line: each run of values starts with M.
  let d = '', pen = false;
  points.forEach((v, i) => {
    if (!isNum(v)) { pen = false; return; }
    d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1) + ' ';
    pen = true;
  });
  return d.trim();
}
function drawLines(chart, readout, h, series, yMin, yMax, unit, digits, text) {
  const { w: W, h: H } = chartBox(chart);
  const top = 24, bottom = 22, left = 44, right = W - 6;
  const labels = h.instants;
  const n = Math.max(labels.length, 2);
  const x = (i) => left + ((i + 0.5) / n) * (right - left);
  const ticks = yTicks(yMin, yMax, 4);
  const lo = Math.min(yMin, ticks[0]), hi = Math.max(yMax, ticks[ticks.length - 1]);
  const y = (v) => top + ((hi - v) / (hi - lo || 1)) * (H - top - bottom);
  yAxis(chart, y, ticks, left, right, digits, unit);
  // Time labels on whole local hours (24 h: every 3 or 6 h) or at local midnight (7 days),
  // at least 56 px apart.
  let lastX = -1e9;
  labels.forEach((l, i) => {
    const t = parseTime(l);
    if (t === null || (t / 60000) % 60 !== 0) return;
    const hour = Number(hourFmt.format(t));
    const week = h.range === '7d';
    if (week ? hour !== 0 : hour % 3 !== 0) return;
    if (x(i) - lastX < 56 || x(i) + 20 > right) return;
    lastX = x(i);
    chart.append(svg('text', { x: x(i).toFixed(1), y: H - 6, 'text-anchor': 'middle', class: 'tick' }, week ? dayFmt.format(t) : fmtTime(l)));
  });
  chart.setAttribute('data-slots', String(labels.length));
  for (const [cls, values] of series) {
    const d = linePath(values, x, y);
    if (d) chart.append(svg('path', { class: 'line ' + cls, d, 'data-points': values.filter(isNum).length }));
  }
  setHover(chart, readout, left, right, labels.length, (i) => (h.range === '7d' ? dayFmt.format(parseTime(labels[i])) + ' ' : '') + fmtTime(labels[i]) + (h.range === '7d' ? ' (hour mean)' : '') + ': ' + text(i));
}
function renderHistory() {
  const h = page.historyRange === '7d' ? page.history7d : part('history');
  $('soc-wrap').hidden = !h;
  $('power-wrap').hidden = !h;
  if (!h) {
    $('history-note').textContent = page.historyRange === '7d' ? 'Loading the last 7 days…' : missingNote('History', 'history');
    clear($('soc-chart'));
    clear($('power-chart'));
    return;
  }
  const notes = [];
  const stale = staleNote('panel-history', 'The history', h.freshness, h.last_update);
  if (stale) notes.push(stale);
  // Series are in kW (SOC in %); null marks a missing sample (or an hour without samples).
  const soc = h.soc_data, pv = h.pv_power_data, house = h.house_consumption_data;
  // Grid drawn import-positive for reading (the source uses the inverter's negative-import sign).
  const grid = h.grid_power_data.map((v) => (isNum(v) ? -v : null));
  const points = h.instants.length;
  const gaps = soc.filter((v) => !isNum(v)).length;
  if (points === 0) notes.push('No samples in this range.');
  else if (gaps > 0) notes.push(gaps + ' of ' + points + (h.range === '7d' ? ' hours' : ' samples') + ' missing (drawn as gaps).');
  $('history-note').textContent = notes.join(' ');
  $('history-range-note').textContent = h.range === '7d' ? 'hourly means of the 5-minute samples' : '5-minute samples';
  drawLines($('soc-chart'), 'soc-readout', h, [['soc', soc]], 0, 100, '%', 0, (i) => 'SOC ' + fmtPct(soc[i]));
  const all = pv.concat(house, grid).filter(isNum);
  const kw = (v) => (isNum(v) ? v.toFixed(2) + ' kW' : MISSING);
  drawLines($('power-chart'), 'power-readout', h, [['pv', pv], ['house', house], ['grid', grid]], Math.min(0, ...all), Math.max(1, ...all), 'kW', 1,
    (i) => 'PV ' + kw(pv[i]) + ' · house ' + kw(house[i]) + ' · grid ' + kw(grid[i]) + (isNum(grid[i]) ? (grid[i] >= 0 ? ' import' : ' export') : ''));
}
async function loadHistoryRange(range) {
  page.historyRange = range;
  for (const b of document.querySelectorAll('[data-history]')) b.setAttribute('aria-pressed', String(b.dataset.history === range));
  if (range === '7d') await refreshHistory7d();
  renderHistory();
}
async function refreshHistory7d() {
  try {
    const r = await fetch('/historical-data?range=7d', { cache: 'no-store' });
    if (!r.ok) { page.history7d = null; $('history-note').textContent = '7-day history unavailable (HTTP ' + r.status + ').'; return; }
    page.history7d = await r.json();
  } catch (e) {
    $('history-note').textContent = '7-day history unavailable: ' + e.message;
  }
}

// --- host -----------------------------------------------------------------------------
function renderHost() {
  const status = part('status');
  const c = status ? status.coordinator : null;
  const sim = c && c.simulated;
  setText('host-cpu', c && isNum(c.cpu_percent) ? c.cpu_percent.toFixed(1) + ' %' : sim ? 'simulated' : (c && c.running ? 'measuring…' : '–'), c && c.cpu_percent);
  setText('host-rss', c && isNum(c.rss_bytes) ? (c.rss_bytes / 1048576).toFixed(1) + ' MB' : '–', c && c.rss_bytes);
  setText('host-coord-uptime', c && c.started_at ? fmtDuration(ageOf(c.started_at)) : (c && c.running === false ? 'not running' : '–'));
  $('host-pid').textContent = c && c.pid ? 'pid ' + c.pid : sim ? 'no process: the demo simulates the coordinator' : '';
  setText('host-uptime', status ? fmtDuration(ageOf(status.started_at)) : '–');
  $('host-version').textContent = status ? 'version ' + status.version : '';
  renderMachine(status ? status.host : null);
  const body = $('source-table').tBodies[0];
  clear(body);
  for (const [name, s] of Object.entries((status && status.sources) || {})) {
    body.append(el('tr', {}, el('td', {}, name), el('td', { class: 'cat-' + s.state }, s.expected_absence ? 'not on this machine (expected)' : s.state),
      el('td', {}, s.changed_at ? fmtDateTime(s.changed_at) + ' (' + fmtAge(ageOf(s.observed_at || s.changed_at)) + ')' : 'never'),
      el('td', { class: 'reason' }, s.expected_absence || s.last_error || '')));
  }
}

function fmtBytes(b) {
  if (!isNum(b)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = b, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return (i === 0 ? v : v.toFixed(1)) + ' ' + units[i];
}
// One bar: the value against its scale, the warning threshold as a marker line (SVG
// attributes only; the CSP forbids inline styles).
function thresholdBar(label, value, max, warn, text, unit) {
  const bar = svg('svg', { viewBox: '0 0 100 10', preserveAspectRatio: 'none', class: 'tbar', role: 'img',
    'aria-label': label + ': ' + text + ', warning at ' + warn + unit });
  const share = isNum(value) ? Math.max(0, Math.min(1, value / max)) : 0;
  const over = isNum(value) && value >= warn;
  bar.append(svg('rect', { x: 0, y: 0, width: 100, height: 10, class: 'tbar-bg' }));
  bar.append(svg('rect', { x: 0, y: 0, width: (share * 100).toFixed(2), height: 10, class: over ? 'tbar-fill over' : 'tbar-fill' }));
  const x = (Math.min(1, warn / max) * 100).toFixed(2);
  bar.append(svg('line', { x1: x, x2: x, y1: 0, y2: 10, class: 'tbar-warn' }));
  return el('div', { class: over ? 'tbar-row over' : 'tbar-row', 'data-value': isNum(value) ? value : null },
    el('span', { class: 'tbar-label' }, label), bar,
    el('span', { class: 'tbar-text' }, text + ' (warning at ' + warn + unit + ')'));
}
function renderMachine(h) {
  const bars = $('host-bars');
  clear(bars);
  if (!h) {
    $('host-note').textContent = 'The host has not been read yet.';
    for (const id of ['host-machine-cpu', 'host-mem', 'host-temp', 'host-boot']) setText(id, '–');
    for (const id of ['host-load', 'host-swap', 'host-temp-note', 'host-self']) $(id).textContent = '';
    return;
  }
  const hs = part('status').sources.host;
  const stale = hs ? staleNote('panel-host', 'The host reading', hs.state, hs.observed_at || hs.changed_at) : '';
  $('host-note').textContent = [stale].concat(h.warnings || [], h.filesystem_errors || []).filter((x) => x).join(' · ');
  const t = h.thresholds || {};
  setText('host-machine-cpu', isNum(h.cpu_percent) ? h.cpu_percent.toFixed(1) + ' %' : '–', h.cpu_percent);
  const l = h.load_average;
  $('host-load').textContent = l ? 'load ' + [l.one, l.five, l.fifteen].map((x) => (isNum(x) ? x.toFixed(2) : MISSING)).join(' / ') : '';
  const m = h.memory;
  setText('host-mem', m && isNum(m.used_percent) ? m.used_percent.toFixed(1) + ' %' : '–', m && m.used_percent);
  $('host-swap').textContent = m ? fmtBytes(m.total_bytes - m.available_bytes) + ' of ' + fmtBytes(m.total_bytes) +
    (m.swap_total_bytes > 0 ? ', swap ' + fmtBytes(m.swap_used_bytes) + ' of ' + fmtBytes(m.swap_total_bytes) : ', no swap') : '';
  const temps = h.temperatures || [];
  setText('host-temp', isNum(h.max_temperature_celsius) ? h.max_temperature_celsius.toFixed(1) + ' °C' : '–', h.max_temperature_celsius);
  $('host-temp-note').textContent = temps.length ? temps.length + ' sensor' + (temps.length > 1 ? 's' : '') : 'no temperature sensors on this machine';
  setText('host-boot', h.boot_time ? fmtDuration(ageOf(h.boot_time)) : '–');
  const p = h.process || {};
  $('host-self').textContent = 'energy-monitor: ' + fmtBytes(p.rss_bytes) + (isNum(p.cpu_percent) ? ', ' + p.cpu_percent.toFixed(1) + ' % CPU' : '');
  if (m && isNum(m.used_percent)) {
    bars.append(thresholdBar('Memory', m.used_percent, 100, t.memory_warn_percent, m.used_percent.toFixed(1) + ' %', ' %'));
  }
  for (const f of h.filesystems || []) {
    const holds = (f.roles || []).join(', ');
    if (isNum(f.used_percent)) {
      bars.append(thresholdBar('Disk ' + f.mount_point + ' (' + holds + ')', f.used_percent, 100, t.disk_warn_percent,
        f.used_percent.toFixed(1) + ' %, ' + fmtBytes(f.available_bytes) + ' free of ' + fmtBytes(f.size_bytes), ' %'));
    }
    if (isNum(f.inodes_used_percent)) {
      bars.append(thresholdBar('Inodes ' + f.mount_point, f.inodes_used_percent, 100, t.disk_warn_percent,
        f.inodes_used_percent.toFixed(1) + ' %', ' %'));
    }
  }
  for (const s of temps.filter((x) => isNum(x.celsius))) {
    const scale = Math.max(100, s.critical_celsius || 0, t.temperature_warn_celsius || 0);
    bars.append(thresholdBar('Sensor ' + s.sensor, s.celsius, scale, t.temperature_warn_celsius, s.celsius.toFixed(1) + ' °C', ' °C'));
  }
}

// --- logs -----------------------------------------------------------------------------
function logLine(text) {
  const m = /^\S+ \S+ - \S+ - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - /.exec(text);
  return el('span', { class: m ? 'lvl-' + m[1] : '' }, text + '\n');
}
function logQuery() {
  const p = new URLSearchParams();
  const file = $('log-file').value;
  if (file) p.set('file', file);
  p.set('lines', '200');
  if ($('log-level').value) p.set('level', $('log-level').value);
  if ($('log-search').value) p.set('q', $('log-search').value);
  return p;
}
async function loadLogFiles() {
  const select = $('log-file');
  if (select.options.length) return true;
  try {
    const r = await fetch('/logs/files', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const j = await r.json();
    // The names /logs accepts besides the listed files, as the server publishes them.
    for (const n of (page.data && page.data.log_selectors) || []) select.append(el('option', { value: n }, n));
    for (const f of j.log_files || []) if (f && f.name) select.append(el('option', { value: f.name }, f.name));
    return true;
  } catch (e) {
    $('logs-note').textContent = 'Logs are not available: ' + e.message + '.';
    return false;
  }
}
async function loadLogs() {
  stopFollow();
  if (!(await loadLogFiles())) return;
  const out = $('log-lines');
  try {
    const r = await fetch('/logs?' + logQuery().toString(), { cache: 'no-store' });
    const j = await r.json();
    clear(out);
    if (!r.ok) {
      $('logs-note').textContent = 'Logs unavailable: ' + (j.error || ('HTTP ' + r.status));
      return;
    }
    $('logs-note').textContent = '';
    for (const line of j.lines || []) out.append(logLine(line));
    out.scrollTop = out.scrollHeight;
    if ($('log-follow').checked) startFollow();
  } catch (e) {
    $('logs-note').textContent = 'Logs are not available: ' + e.message + '.';
  }
}
function startFollow() {
  stopFollow();
  const p = logQuery();
  p.set('follow', 'true');
  p.set('lines', '0');
  const out = $('log-lines');
  const es = new EventSource('/logs?' + p.toString());
  // Events: {type: start|log|rotated|gap|error|end, line|message}.
  es.addEventListener('message', (ev) => {
    let event;
    try { event = JSON.parse(ev.data); } catch (_) { return; }
    if (event.type === 'log') {
      out.append(logLine(String(event.line)));
      while (out.childNodes.length > 2000) out.removeChild(out.firstChild);
      out.scrollTop = out.scrollHeight;
    } else if (event.type === 'start') {
      $('logs-note').textContent = '';
    } else if (event.type === 'rotated' || event.type === 'gap') {
      $('logs-note').textContent = String(event.message);
    } else if (event.type === 'error' || event.type === 'end') {
      // The server ended the stream: close it here (the connection is ours to close).
      $('logs-note').textContent = 'Live stream ended: ' + String(event.message);
      $('log-follow').checked = false;
      stopFollow();
    }
  });
  es.addEventListener('error', () => {
    if (page.logStream === es) $('logs-note').textContent = 'Live stream interrupted; reconnecting…';
  });
  page.logStream = es;
}
function stopFollow() {
  if (page.logStream) { page.logStream.close(); page.logStream = null; }
}

// --- tabs and theme -------------------------------------------------------------------
function selectTab(tab, focus) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) tab.focus();
  const name = tab.id.replace('tab-', '');
  if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
  if (name === 'logs') loadLogs(); else stopFollow();
  redrawCharts();
}
// Charts drawn while their panel was hidden (or before a resize) are redrawn at their size.
function redrawCharts() {
  const charts = [['price-chart', renderPrices], ['savings-chart', renderSavings], ['soc-chart', renderHistory]];
  for (const [id, render] of charts) {
    const c = $(id);
    if (c.clientWidth && (String(c.clientWidth) !== c.dataset.width || String(c.clientHeight) !== c.dataset.height)) guarded(render);
  }
}
function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const t of tabs) {
    t.addEventListener('click', () => selectTab(t, false));
    t.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(t);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length], true);
    });
  }
  const wanted = $('tab-' + location.hash.slice(1));
  if (wanted) selectTab(wanted, false);
}
function effectiveTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen === 'light' || chosen === 'dark') return chosen;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
function setupTheme() {
  let saved = null;
  try { saved = localStorage.getItem('energy-monitor-theme'); } catch (_) { /* storage disabled */ }
  if (saved === 'light' || saved === 'dark') document.documentElement.dataset.theme = saved;
  const button = $('theme-toggle');
  const label = () => { button.textContent = effectiveTheme() === 'dark' ? 'Light' : 'Dark'; };
  label();
  button.addEventListener('click', () => {
    const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem('energy-monitor-theme', next); } catch (_) { /* storage disabled */ }
    label();
  });
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', label);
}

// --- sections and polling -------------------------------------------------------------
// Each section with the parts of the document it reads; it re-renders only when one of
// them changed.
const SECTIONS = [
  [renderHeader, ['status', 'demo']],
  [renderNow, ['current_state', 'prices', 'decisions', 'history']],
  [renderPrices, ['prices']],
  [renderDecisions, ['decisions']],
  [renderSavings, ['month', 'metrics', 'comparison']],
  [renderHistory, ['history']],
  [renderHost, ['status']],
];
function guarded(f) {
  try { f(); } catch (e) { recordError(f.name + ': ' + e.message); }
}
function render(data) {
  const t0 = performance.now();
  const changed = new Set();
  const text = {};
  for (const name of Object.keys(data)) {
    text[name] = JSON.stringify(data[name]);
    if (text[name] !== page.partText[name]) changed.add(name);
  }
  page.data = data;
  page.partText = text;
  const rendered = [];
  for (const [f, parts] of SECTIONS) {
    if (parts.some((p) => changed.has(p)) || page.firstRenderMs === null) {
      guarded(f);
      rendered.push(f.name);
    }
  }
  if (changed.has('decisions') && page.decisionRange !== '24h') refreshExtraDecisions(false);
  if (changed.has('history') && page.historyRange === '7d') refreshHistory7d().then(() => guarded(renderHistory));
  if (page.firstRenderMs === null) {
    page.firstRenderMs = performance.now();
    document.documentElement.dataset.firstRenderMs = page.firstRenderMs.toFixed(0);
  }
  document.documentElement.dataset.renderMs = (performance.now() - t0).toFixed(1);
  document.documentElement.dataset.rendered = String(page.polls);
  document.documentElement.dataset.lastRendered = rendered.join(' ');
}
function schedule() {
  clearTimeout(page.timer);
  if (!document.hidden && !page.streaming) page.timer = setTimeout(poll, page.pollSeconds * 1000);
}
// The pushed document: `document` events carry it whole, `section` events one top-level
// field of it; the event id is the document's ETag (what a poll would send as If-None-Match).
function startEvents() {
  if (page.events || typeof EventSource !== 'function') return;
  const es = new EventSource('/events');
  page.events = es;
  const counted = (e) => {
    page.eventBytes += e.data.length;
    page.eventCount += 1;
    document.documentElement.dataset.eventBytes = String(page.eventBytes);
    document.documentElement.dataset.eventCount = String(page.eventCount);
  };
  const applied = (e) => {
    page.etag = e.lastEventId || page.etag;
    document.documentElement.dataset.etag = page.etag || '';
    $('problem').textContent = '';
    $('poll-state').textContent = 'updated ' + timeFmt.format(serverNow()) + ' · live';
  };
  es.addEventListener('open', () => {
    page.streaming = true;
    document.documentElement.dataset.streaming = 'true';
    clearTimeout(page.timer);
  });
  es.addEventListener('clock', (e) => {
    const t = Date.parse(JSON.parse(e.data));
    if (!Number.isNaN(t)) page.skewMs = t - Date.now();
  });
  es.addEventListener('document', (e) => {
    counted(e);
    const data = JSON.parse(e.data);
    if (isNum(data.poll_seconds) && data.poll_seconds > 0) page.pollSeconds = data.poll_seconds;
    render(data);
    applied(e);
  });
  es.addEventListener('section', (e) => {
    counted(e);
    const s = JSON.parse(e.data);
    if (!page.data) return;
    render(Object.assign({}, page.data, { [s.name]: s.value }));
    applied(e);
  });
  const fallBack = () => {
    es.close();
    page.events = null;
    page.streaming = false;
    page.eventsFailedAt = Date.now();
    document.documentElement.dataset.streaming = 'false';
    poll();
  };
  es.addEventListener('end', fallBack);
  // A stream that was refused (503 at the cap) or could not be opened is closed by the
  // browser; one that broke is reopened by the browser itself (with Last-Event-ID).
  es.addEventListener('error', () => { if (es.readyState === EventSource.CLOSED) fallBack(); });
}
async function poll() {
  clearTimeout(page.timer);
  if (page.streaming) return;
  if (!page.events && Date.now() - page.eventsFailedAt > 60000) startEvents();
  try {
    const headers = page.etag ? { 'If-None-Match': page.etag } : {};
    const r = await fetch('/api/dashboard', { headers, cache: 'no-store' });
    page.polls += 1;
    document.documentElement.dataset.polls = String(page.polls);
    const serverDate = Date.parse(r.headers.get('Date') || '');
    if (!Number.isNaN(serverDate)) page.skewMs = serverDate - Date.now();
    if (r.status === 304) {
      page.notModified += 1;
      document.documentElement.dataset.notModified = String(page.notModified);
    } else if (r.ok) {
      page.etag = r.headers.get('ETag');
      const data = await r.json();
      if (isNum(data.poll_seconds) && data.poll_seconds > 0) page.pollSeconds = data.poll_seconds;
      render(data);
      document.documentElement.dataset.etag = page.etag || '';
    } else {
      $('problem').textContent = 'energy-monitor answered HTTP ' + r.status + '; retrying.';
    }
    if (r.ok || r.status === 304) $('problem').textContent = '';
    if (!page.streaming) $('poll-state').textContent = 'updated ' + timeFmt.format(serverNow()) + ' · polling every ' + page.pollSeconds + ' s';
  } catch (e) {
    $('problem').textContent = 'Cannot reach energy-monitor (' + e.message + '); retrying.';
    $('poll-state').textContent = 'offline';
  }
  schedule();
}

function start() {
  setupTheme();
  setupTabs();
  $('price-market').addEventListener('change', () => guarded(renderPrices));
  for (const b of document.querySelectorAll('[data-category]')) {
    b.addEventListener('click', () => {
      page.decisionCategory = b.dataset.category;
      page.decisionPage = 0;
      for (const o of document.querySelectorAll('[data-category]')) o.setAttribute('aria-pressed', String(o === b));
      renderDecisions();
    });
  }
  $('decision-prev').addEventListener('click', () => { page.decisionPage = Math.max(0, page.decisionPage - 1); renderDecisions(); });
  $('decision-next').addEventListener('click', () => { page.decisionPage += 1; renderDecisions(); });
  $('decision-range').addEventListener('change', (e) => loadDecisionRange(e.target.value));
  for (const b of document.querySelectorAll('[data-history]')) b.addEventListener('click', () => loadHistoryRange(b.dataset.history));
  for (const id of ['price-chart', 'savings-chart', 'soc-chart', 'power-chart']) {
    $(id).addEventListener('pointermove', onHover);
    $(id).addEventListener('pointerdown', onHover);
  }
  $('status-chip').addEventListener('click', () => {
    const open = $('status-detail').hidden;
    $('status-detail').hidden = !open;
    $('status-chip').setAttribute('aria-expanded', String(open));
  });
  $('log-file').addEventListener('change', loadLogs);
  $('log-level').addEventListener('change', loadLogs);
  $('log-follow').addEventListener('change', () => ($('log-follow').checked ? startFollow() : stopFollow()));
  $('log-search').addEventListener('input', () => {
    clearTimeout(page.logTimer);
    page.logTimer = setTimeout(loadLogs, 300);
  });
  let resizeTimer = null;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(redrawCharts, 150); });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) clearTimeout(page.timer);
    else poll();
  });
  // Ages in the header, the Now tab and Host move on between polls without any request.
  setInterval(() => {
    if (page.data && !document.hidden) { guarded(renderHeader); guarded(renderNow); guarded(renderHost); }
  }, 15000);
  if (typeof EventSource === 'function') startEvents();
  else poll();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
