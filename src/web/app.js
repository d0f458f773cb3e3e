// energy-monitor dashboard.
//
// One document, /api/dashboard, holds everything the first paint needs. The page polls it
// with If-None-Match (an unchanged poll is a 304 with no body), pauses while the tab is
// hidden, and refreshes at once when it becomes visible again. Data never goes through
// innerHTML: every text is set with textContent, every SVG attribute is ours.
'use strict';

const ZONE = 'Europe/Warsaw';
const page = {
  etag: null,
  data: null,
  timer: null,
  pollSeconds: 5,
  errors: [],
  firstRenderMs: null,
  polls: 0,
  notModified: 0,
  skewMs: 0,
  decisionCategory: 'all',
  decisionRange: '24h',
  extraDecisions: null,
  logStream: null,
  logTimer: null,
};

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

function setText(id, text, value) {
  const node = $(id);
  if (!node) return;
  node.textContent = text;
  if (value === undefined || value === null || Number.isNaN(value)) node.removeAttribute('data-value');
  else node.setAttribute('data-value', String(value));
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// --- formatting -----------------------------------------------------------------------
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const num = (v) => (isNum(v) ? v : (typeof v === 'string' && v.trim() !== '' && Number.isFinite(+v) ? +v : null));

function fmtPower(w) {
  if (!isNum(w)) return '–';
  const a = Math.abs(w);
  return a >= 1000 ? (w / 1000).toFixed(2) + ' kW' : Math.round(w) + ' W';
}
const fmtPrice = (p) => (isNum(p) ? p.toFixed(3) + ' PLN/kWh' : '–');
const fmtPln = (p) => (isNum(p) ? p.toFixed(2) + ' PLN' : '–');
const fmtKwh = (e) => (isNum(e) ? e.toFixed(2) + ' kWh' : '–');
const fmtPct = (p, d = 0) => (isNum(p) ? p.toFixed(d) + ' %' : '–');

const timeFmt = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dateTimeFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: ZONE, day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
// Instants carry an offset (RFC 3339). The coordinator's own timestamps are naive Warsaw
// wall-clock times; those are shown as written, never reinterpreted in the browser's zone.
const NAIVE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::[\d.]+)?$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function parseTime(s) {
  if (!s || NAIVE.test(s)) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}
function fmtTime(s) {
  const m = NAIVE.exec(s || '');
  if (m) return m[4] + ':' + m[5];
  const t = parseTime(s);
  return t === null ? '–' : timeFmt.format(t);
}
function fmtDateTime(s) {
  const m = NAIVE.exec(s || '');
  if (m) return m[3] + ' ' + MONTHS[Number(m[2]) - 1] + ', ' + m[4] + ':' + m[5];
  const t = parseTime(s);
  return t === null ? '–' : dateTimeFmt.format(t);
}

function fmtAge(seconds) {
  if (!isNum(seconds)) return 'never';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return (s / 3600).toFixed(1) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}
function fmtDuration(seconds) {
  if (!isNum(seconds)) return '–';
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

// --- data adapters: the one place that knows the routes' field names --------------------
function part(name) {
  return page.data ? page.data[name] : null;
}
function unavailableReason(name) {
  const u = page.data && page.data.unavailable && page.data.unavailable[name];
  if (!u) return null;
  return typeof u.reason === 'string' ? u.reason : 'unavailable';
}
function pick(obj, ...paths) {
  for (const path of paths) {
    let v = obj;
    for (const key of path.split('.')) {
      if (v === null || v === undefined) break;
      v = v[key];
    }
    if (v !== undefined && v !== null) return v;
  }
  return null;
}
function quarterRows(prices, day) {
  const rows = pick(prices, 'quarters.' + day) || [];
  return rows.map((q) => ({
    start: pick(q, 'start_utc', 'start'),
    end: pick(q, 'end_utc', 'end'),
    label: pick(q, 'period', 'start_local'),
    final: num(pick(q, 'final_price_pln_kwh', 'final_pln_kwh', 'final_price', 'price')),
    market: num(pick(q, 'market_price_pln_kwh', 'market_pln_kwh', 'market_price')),
    zone: pick(q, 'tariff_zone', 'zone'),
    day,
  }));
}

// --- header ---------------------------------------------------------------------------
function renderHeader() {
  const status = part('status');
  const badge = $('coordinator-badge');
  if (!status) {
    badge.textContent = 'coordinator: unknown';
    badge.className = 'badge badge-unknown';
    badge.dataset.state = 'unknown';
  } else {
    const running = status.coordinator_running;
    const state = running === true ? 'running' : running === false ? 'stopped' : 'unknown';
    badge.textContent = running === true ? 'coordinator running' : running === false ? 'coordinator NOT running' : 'coordinator: checking…';
    badge.className = 'badge badge-' + state;
    badge.dataset.state = state;
  }
  const box = $('source-badges');
  clear(box);
  const sources = (status && status.sources) || {};
  for (const [name, s] of Object.entries(sources)) {
    const age = ageOf(s.observed_at || s.last_success);
    const text = name + ' ' + (s.state === 'unavailable' ? 'unavailable' : fmtAge(age));
    box.append(el('span', {
      class: 'badge badge-' + s.state, 'data-source': name, 'data-state': s.state,
      title: s.last_error ? name + ': ' + s.last_error : name + ': ' + s.state,
    }, text));
  }
  const problems = (status && status.problems) || [];
  $('problem').textContent = problems.length ? problems[0] + (problems.length > 1 ? ' (+' + (problems.length - 1) + ' more)' : '') : '';
}

// --- now ------------------------------------------------------------------------------
function renderNow() {
  const cs = part('current_state');
  const sources = pick(part('status'), 'sources') || {};
  const inv = sources.inverter;
  if (!cs) {
    $('now-note').textContent = 'Inverter data unavailable' + (unavailableReason('current_state') ? ': ' + unavailableReason('current_state') : '') + '.';
    for (const id of ['now-pv', 'now-soc', 'now-battery', 'now-grid', 'now-grid-dir', 'now-house']) setText(id, '–');
  } else {
    const fresh = pick(cs, 'freshness') || (inv && inv.state);
    $('now-note').textContent = fresh && fresh !== 'fresh'
      ? 'Inverter reading is ' + fresh + ' (taken ' + fmtDateTime(pick(cs, 'timestamp', 'data_timestamp')) + ').'
      : '';
    const pv = num(pick(cs, 'photovoltaic.current_power_w'));
    setText('now-pv', fmtPower(pv), pv);
    const soc = num(pick(cs, 'battery.soc_percent'));
    setText('now-soc', fmtPct(soc), soc);
    // GoodWe sign convention: battery power is positive while discharging.
    const bp = num(pick(cs, 'battery.power_w'));
    setText('now-battery', bp === null ? (pick(cs, 'battery.charging_status') || '–')
      : bp < 0 ? 'charging ' + fmtPower(-bp) : bp > 0 ? 'discharging ' + fmtPower(bp) : 'idle', bp);
    const grid = num(pick(cs, 'grid.current_power_w'));
    // GoodWe sign convention: negative = import from the grid.
    setText('now-grid', fmtPower(grid === null ? null : Math.abs(grid)), grid);
    setText('now-grid-dir', grid === null ? '–' : grid < 0 ? 'importing' : grid > 0 ? 'exporting' : 'balanced');
    const house = num(pick(cs, 'house_consumption.current_power_w'));
    setText('now-house', fmtPower(house), house);
  }
  const pricing = pick(cs, 'pricing');
  const current = pick(part('prices'), 'current');
  const price = num(pick(current, 'final_price_pln_kwh', 'final_pln_kwh')) ?? num(pick(pricing, 'current_price_pln_kwh'));
  const zone = pick(current, 'tariff_zone') || pick(pricing, 'tariff_zone');
  setText('now-price', fmtPrice(price), price);
  setText('now-zone', zone ? 'tariff zone ' + zone : (price === null ? 'no valid price' : ''));
}

// --- prices ---------------------------------------------------------------------------
function cheapStarts(prices) {
  // Quarter starts inside the cheapest windows, to highlight them.
  const set = new Set();
  const windows = pick(prices, 'windows') || {};
  const walk = (w) => {
    if (!w || typeof w !== 'object') return;
    if (Array.isArray(w)) { w.forEach(walk); return; }
    const kind = String(w.kind || w.type || '');
    const start = parseTime(pick(w, 'start_utc', 'start'));
    const end = parseTime(pick(w, 'end_utc', 'end'));
    if (start !== null && end !== null && !kind.includes('expensive')) {
      for (let t = start; t < end; t += 15 * 60 * 1000) set.add(t);
      return;
    }
    for (const [k, v] of Object.entries(w)) if (!k.includes('expensive')) walk(v);
  };
  walk(windows.cheapest || windows);
  return set;
}

function renderPrices() {
  const prices = part('prices');
  const chart = $('price-chart');
  clear(chart);
  if (!prices) {
    $('prices-note').textContent = 'Prices unavailable' + (unavailableReason('prices') ? ': ' + unavailableReason('prices') : '') + '.';
    $('tomorrow-status').textContent = '';
    $('price-summary').textContent = '';
    clear($('price-windows'));
    chart.setAttribute('data-bars', '0');
    return;
  }
  $('prices-note').textContent = '';
  const market = $('price-market').checked;
  const rows = quarterRows(prices, 'today').concat(quarterRows(prices, 'tomorrow'));
  const value = (r) => (market ? r.market : r.final);
  const values = rows.map(value).filter(isNum);
  const max = Math.max(0.1, ...values);
  const min = Math.min(0, ...values);
  const W = Math.max(rows.length * 6, 320), H = 260, top = 10, bottom = 24, left = 34;
  const plotH = H - top - bottom;
  const y = (v) => top + ((max - v) / (max - min)) * plotH;
  const bw = (W - left) / Math.max(rows.length, 1);
  chart.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  chart.setAttribute('preserveAspectRatio', 'none');
  chart.setAttribute('data-bars', String(rows.length));
  chart.append(svg('line', { class: 'zero', x1: left, x2: W, y1: y(0), y2: y(0) }));
  for (const tick of [min, (min + max) / 2, max]) {
    chart.append(svg('text', { x: 2, y: y(tick) + 4 }, tick.toFixed(2)));
  }
  const cheap = cheapStarts(prices);
  const nowStart = parseTime(pick(prices, 'current.start_utc', 'current.start'));
  let splitDrawn = false;
  rows.forEach((r, i) => {
    const v = value(r);
    const x = left + i * bw;
    if (r.day === 'tomorrow' && !splitDrawn) {
      chart.append(svg('line', { class: 'day-split', x1: x, x2: x, y1: top, y2: H - bottom }));
      splitDrawn = true;
    }
    if (!isNum(v)) return;
    const y0 = y(Math.max(v, 0)), y1 = y(Math.min(v, 0));
    const start = parseTime(r.start);
    let cls = 'bar' + (r.day === 'tomorrow' ? ' tomorrow' : '') + (v < 0 ? ' neg' : '') + (start !== null && cheap.has(start) ? ' cheap' : '');
    const rect = svg('rect', { class: cls, x: x + 0.5, y: y0, width: Math.max(bw - 1, 1), height: Math.max(y1 - y0, 0.5), 'data-value': v });
    rect.append(svg('title', {}, (r.day === 'tomorrow' ? 'tomorrow ' : '') + fmtTime(r.start) + '–' + fmtTime(r.end)
      + ': final ' + fmtPrice(r.final) + ', market ' + fmtPrice(r.market) + (r.zone ? ', zone ' + r.zone : '')));
    chart.append(rect);
    if (nowStart !== null && start === nowStart) {
      chart.append(svg('rect', { class: 'now-marker', x: x, y: top, width: Math.max(bw, 2), height: plotH, 'data-now': '1' }));
    }
    if (i % 16 === 0) chart.append(svg('text', { x: x, y: H - 8 }, fmtTime(r.start)));
  });
  const status = pick(prices, 'tomorrow_status');
  $('tomorrow-status').textContent = status === 'published' ? 'Tomorrow: published.'
    : status === 'not_yet_published' ? 'Tomorrow\'s prices are not yet published (PSE publishes them in the early afternoon).'
      : status === 'error' ? 'Tomorrow\'s prices could not be fetched: ' + (pick(prices, 'tomorrow_error') || 'see the prices source in Host.')
        : '';
  $('tomorrow-status').dataset.status = status || '';
  const avg = num(pick(prices, 'average_price_pln_kwh'));
  $('price-summary').textContent = rows.length + ' quarters' + (avg !== null ? ' · today\'s average ' + fmtPrice(avg) : '');
  renderWindows(prices);
}

function renderWindows(prices) {
  const box = $('price-windows');
  clear(box);
  const windows = pick(prices, 'windows');
  if (!windows || typeof windows !== 'object') return;
  const cards = [];
  const walk = (w, label) => {
    if (!w || typeof w !== 'object') return;
    if (Array.isArray(w)) { w.forEach((x) => walk(x, label)); return; }
    if (pick(w, 'start_utc', 'start') && (isNum(w.average_final_pln_kwh) || isNum(w.average_pln_kwh) || isNum(w.average))) {
      cards.push([label, w]);
      return;
    }
    for (const [k, v] of Object.entries(w)) walk(v, label ? label + ' · ' + k.replace(/_/g, ' ') : k.replace(/_/g, ' '));
  };
  walk(windows, '');
  for (const [label, w] of cards.slice(0, 12)) {
    const avg = num(pick(w, 'average_final_pln_kwh', 'average_pln_kwh', 'average'));
    box.append(el('div', { class: 'card' }, el('h2', {}, label),
      el('p', {}, fmtDateTime(pick(w, 'start_utc', 'start')) + ' – ' + fmtTime(pick(w, 'end_utc', 'end'))),
      el('p', {}, 'average ' + fmtPrice(avg))));
  }
}

// --- decisions ------------------------------------------------------------------------
// The server's own categorisation (the same rules its counts use); never guessed here.
const decisionCategory = (d) => d.category || 'unknown';
function renderDecisions() {
  const source = page.decisionRange === '24h' ? part('decisions') : page.extraDecisions;
  const body = $('decision-table').tBodies[0];
  clear(body);
  if (!source) {
    $('decisions-note').textContent = 'Decisions unavailable' + (unavailableReason('decisions') ? ': ' + unavailableReason('decisions') : '') + '.';
    $('decision-counts').textContent = '';
    return;
  }
  $('decisions-note').textContent = '';
  const all = source.decisions || []; // newest first, as served
  const rows = all.filter((d) => page.decisionCategory === 'all' || decisionCategory(d) === page.decisionCategory);
  for (const d of rows) {
    const cat = decisionCategory(d);
    const price = num(pick(d, 'current_price', 'current_price_pln', 'current_price_pln_kwh'));
    const energy = num(pick(d, 'energy_kwh', 'energy_sold_kwh'));
    const soc = num(pick(d, 'battery_soc'));
    body.append(el('tr', { 'data-category': cat },
      el('td', { class: 'num' }, fmtDateTime(d.instant || d.timestamp)),
      el('td', { class: 'cat-' + cat }, cat),
      el('td', {}, d.action || '–'),
      el('td', { class: 'num' }, fmtPct(soc)),
      el('td', { class: 'num' }, fmtPrice(price)),
      el('td', { class: 'num' }, fmtKwh(energy)),
      el('td', { class: 'reason' }, d.reason || d.reasoning || '')));
  }
  const counts = ['charging_count', 'battery_selling_count', 'wait_count'].map((k) => num(source[k]));
  $('decision-counts').textContent = rows.length + ' shown · ' + all.length + ' in range'
    + (counts.every(isNum) ? ' (' + counts[0] + ' charging, ' + counts[1] + ' selling, ' + counts[2] + ' wait)' : '');
}

async function loadDecisionRange(range) {
  page.decisionRange = range;
  page.extraDecisions = null;
  if (range !== '24h') {
    try {
      const r = await fetch('/decisions?time_range=' + encodeURIComponent(range), { cache: 'no-store' });
      page.extraDecisions = r.ok ? await r.json() : null;
      if (!r.ok) $('decisions-note').textContent = 'Decisions for ' + range + ' unavailable (HTTP ' + r.status + ').';
    } catch (e) {
      $('decisions-note').textContent = 'Decisions for ' + range + ' unavailable: ' + e;
    }
  }
  renderDecisions();
}

// --- savings --------------------------------------------------------------------------
function renderSavings() {
  const month = part('month');
  const kpis = $('month-kpis');
  clear(kpis);
  if (!month) {
    $('savings-note').textContent = 'Month summary unavailable' + (unavailableReason('month') ? ': ' + unavailableReason('month') : '') + '.';
  } else {
    $('savings-note').textContent = '';
    $('month-title').textContent = (month.month_name || 'This month') + ' ' + (month.year || '') + ' (month to date)';
    const mtd = pick(part('metrics'), 'month_to_date') || {};
    const count = (v) => (isNum(num(v)) ? String(v) : '–');
    const cards = [
      ['Charging cost', fmtPln(num(month.total_cost_pln)), num(month.total_cost_pln), 'month-cost'],
      ['Energy charged', fmtKwh(num(month.total_energy_kwh)), num(month.total_energy_kwh), 'month-energy'],
      ['Average price paid', fmtPrice(num(month.avg_cost_per_kwh)), num(month.avg_cost_per_kwh), 'month-avg'],
      ['Savings vs daily average (estimated)', fmtPln(num(mtd.savings_vs_daily_average_pln)), num(mtd.savings_vs_daily_average_pln), 'month-savings'],
      ['Selling revenue (successful sales)', fmtPln(num(mtd.selling_revenue_pln)), num(mtd.selling_revenue_pln), 'month-selling'],
      ['Charged in cheapest quarter-hours', fmtPct(num(mtd.cheapest_quarter_share_percent), 1), num(mtd.cheapest_quarter_share_percent), 'month-cheapest'],
      ['Decisions', count(month.total_decisions), num(month.total_decisions), 'month-decisions'],
      ['Days with data', count(month.days_with_data), num(month.days_with_data), 'month-days'],
    ];
    for (const [label, text, value, id] of cards) {
      kpis.append(el('div', { class: 'card' }, el('h2', {}, label), el('p', { class: 'big', id, 'data-value': value }, text)));
    }
  }
  const cmp = part('comparison');
  const body = $('comparison-table').tBodies[0];
  clear(body);
  if (cmp && cmp.current_month && cmp.previous_month) {
    // Like for like: this month so far against the same days of the previous month.
    const prev = cmp.previous_month_same_days || cmp.previous_month;
    const head = $('comparison-table').tHead.rows[0].cells;
    head[1].textContent = cmp.current_month.days || cmp.current_month.label || 'This month';
    head[2].textContent = prev.days || prev.label || 'Previous month';
    const rows = [
      ['Charging cost', 'total_cost_pln', fmtPln, 'cost_change_pct'],
      ['Savings (coordinator estimate)', 'total_savings_pln', fmtPln, 'savings_change_pct'],
      ['Energy charged', 'total_energy_kwh', fmtKwh, 'energy_change_pct'],
    ];
    for (const [label, key, fmt, change] of rows) {
      const ch = num(pick(cmp, 'changes.' + change));
      body.append(el('tr', {}, el('td', {}, label), el('td', { class: 'num' }, fmt(num(cmp.current_month[key]))),
        el('td', { class: 'num' }, fmt(num(prev[key]))),
        el('td', { class: 'num' }, ch === null ? '–' : (ch > 0 ? '+' : '') + ch.toFixed(1) + ' %')));
    }
  } else {
    body.append(el('tr', {}, el('td', { colSpan: 4 }, 'Comparison unavailable' + (unavailableReason('comparison') ? ': ' + unavailableReason('comparison') : '') + '.')));
  }
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
function drawLines(chart, labels, series, yMin, yMax, unit) {
  clear(chart);
  const W = 720, H = 240, top = 10, bottom = 22, left = 40;
  chart.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  chart.setAttribute('preserveAspectRatio', 'none');
  const n = Math.max(labels.length, 2);
  const x = (i) => left + (i / (n - 1)) * (W - left - 4);
  const y = (v) => top + ((yMax - v) / (yMax - yMin || 1)) * (H - top - bottom);
  for (const tick of [yMin, (yMin + yMax) / 2, yMax]) {
    chart.append(svg('line', { class: 'axis', x1: left, x2: W, y1: y(tick), y2: y(tick) }));
    chart.append(svg('text', { x: 2, y: y(tick) + 4 }, tick.toFixed(unit === '%' ? 0 : 1) + unit));
  }
  labels.forEach((l, i) => { if (i % 48 === 0) chart.append(svg('text', { x: x(i), y: H - 6 }, fmtTime(l))); });
  chart.setAttribute('data-slots', String(labels.length));
  for (const [cls, values] of series) {
    const d = linePath(values, x, y);
    if (d) chart.append(svg('path', { class: 'line ' + cls, d, 'data-points': values.filter(isNum).length }));
  }
}
function renderHistory() {
  const h = part('history');
  if (!h) {
    $('history-note').textContent = 'History unavailable' + (unavailableReason('history') ? ': ' + unavailableReason('history') : '') + '.';
    clear($('soc-chart'));
    clear($('power-chart'));
    return;
  }
  const labels = h.instants || h.timestamps || [];
  // Series are in kW (SOC in %); null marks a missing sample.
  const series = (k) => (h[k] || []).map((v) => (v === null ? null : num(v)));
  const soc = series('soc_data');
  const pv = series('pv_power_data');
  const house = series('house_consumption_data');
  // Grid drawn import-positive for reading (the source uses GoodWe's negative-import sign).
  const grid = series('grid_power_data').map((v) => (v === null ? null : -v));
  const points = labels.length;
  const gaps = soc.filter((v) => v === null).length;
  $('history-note').textContent = points === 0 ? 'No samples in the last 24 hours.' : gaps > 0 ? gaps + ' of ' + points + ' samples missing (drawn as gaps).' : '';
  drawLines($('soc-chart'), labels, [['soc', soc]], 0, 100, '%');
  const all = pv.concat(house, grid).filter(isNum);
  drawLines($('power-chart'), labels, [['pv', pv], ['house', house], ['grid', grid]], Math.min(0, ...all), Math.max(1, ...all), ' kW');
}

// --- host -----------------------------------------------------------------------------
function renderHost() {
  const status = part('status');
  const c = pick(status, 'coordinator');
  setText('host-cpu', c && isNum(c.cpu_percent) ? c.cpu_percent.toFixed(1) + ' %' : (c && c.running ? 'measuring…' : '–'), c && c.cpu_percent);
  setText('host-rss', c && isNum(c.rss_bytes) ? (c.rss_bytes / 1048576).toFixed(1) + ' MB' : '–', c && c.rss_bytes);
  setText('host-coord-uptime', c && c.started_at ? fmtDuration(ageOf(c.started_at)) : (c && c.running === false ? 'not running' : '–'));
  $('host-pid').textContent = c && c.pid ? 'pid ' + c.pid : '';
  setText('host-uptime', status ? fmtDuration(ageOf(status.started_at)) : '–');
  $('host-version').textContent = status ? 'version ' + status.version : '';
  renderMachine(pick(status, 'host'));
  const body = $('source-table').tBodies[0];
  clear(body);
  for (const [name, s] of Object.entries((status && status.sources) || {})) {
    body.append(el('tr', {}, el('td', {}, name), el('td', { class: 'cat-' + s.state }, s.state),
      el('td', {}, s.last_success ? fmtDateTime(s.last_success) + ' (' + fmtAge(ageOf(s.observed_at || s.last_success)) + ')' : 'never'),
      el('td', { class: 'reason' }, s.last_error || '')));
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
  $('host-note').textContent = (h.warnings || []).concat(h.filesystem_errors || []).join(' · ');
  const t = h.thresholds || {};
  setText('host-machine-cpu', isNum(h.cpu_percent) ? h.cpu_percent.toFixed(1) + ' %' : '–', h.cpu_percent);
  const l = h.load_average;
  $('host-load').textContent = l ? 'load ' + [l.one, l.five, l.fifteen].map((x) => x.toFixed(2)).join(' / ') : '';
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
  for (const s of temps) {
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
    const names = ['master', 'fast_charge', 'journal', 'summary'];
    for (const n of names) select.append(el('option', { value: n }, n));
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
  const label = () => { button.textContent = effectiveTheme() === 'dark' ? 'Light theme' : 'Dark theme'; };
  label();
  button.addEventListener('click', () => {
    const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem('energy-monitor-theme', next); } catch (_) { /* storage disabled */ }
    label();
  });
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', label);
}

// --- polling --------------------------------------------------------------------------
function render() {
  for (const f of [renderHeader, renderNow, renderPrices, renderDecisions, renderSavings, renderHistory, renderHost]) {
    try { f(); } catch (e) { recordError(f.name + ': ' + e.message); }
  }
  if (page.firstRenderMs === null) {
    page.firstRenderMs = performance.now();
    document.documentElement.dataset.firstRenderMs = page.firstRenderMs.toFixed(0);
  }
  document.documentElement.dataset.rendered = String(page.polls);
}
function schedule() {
  clearTimeout(page.timer);
  if (!document.hidden) page.timer = setTimeout(poll, page.pollSeconds * 1000);
}
async function poll() {
  clearTimeout(page.timer);
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
      document.documentElement.dataset.etag = page.etag || '';
      page.data = await r.json();
      if (isNum(page.data.poll_seconds) && page.data.poll_seconds > 0) page.pollSeconds = page.data.poll_seconds;
      render();
    } else {
      $('problem').textContent = 'energy-monitor answered HTTP ' + r.status + '; retrying.';
    }
    $('poll-state').textContent = 'updated ' + timeFmt.format(serverNow()) + ' · polling every ' + page.pollSeconds + ' s';
  } catch (e) {
    $('problem').textContent = 'Cannot reach energy-monitor (' + e.message + '); retrying.';
    $('poll-state').textContent = 'offline';
  }
  schedule();
}

function start() {
  setupTheme();
  setupTabs();
  $('price-market').addEventListener('change', renderPrices);
  for (const b of document.querySelectorAll('[data-category]')) {
    b.addEventListener('click', () => {
      page.decisionCategory = b.dataset.category;
      for (const o of document.querySelectorAll('[data-category]')) o.setAttribute('aria-pressed', String(o === b));
      renderDecisions();
    });
  }
  $('decision-range').addEventListener('change', (e) => loadDecisionRange(e.target.value));
  $('log-file').addEventListener('change', loadLogs);
  $('log-level').addEventListener('change', loadLogs);
  $('log-follow').addEventListener('change', () => ($('log-follow').checked ? startFollow() : stopFollow()));
  $('log-search').addEventListener('input', () => {
    clearTimeout(page.logTimer);
    page.logTimer = setTimeout(loadLogs, 300);
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) clearTimeout(page.timer);
    else poll();
  });
  // Ages in the header move on between polls without any request.
  setInterval(() => { if (page.data && !document.hidden) { renderHeader(); renderHost(); } }, 15000);
  poll();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
