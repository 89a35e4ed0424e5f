// Crumb's owner page: fetches /v1/admin/sites/{site}/stats with the owner's
// (or an auditor's) token and draws two SVG charts; /v1/admin/sites gives
// the site field its suggestions. All text goes in with
// textContent; the token stays in sessionStorage for this tab only.
'use strict';
const NS = 'http://www.w3.org/2000/svg';
const CATS = ['functional', 'analytics', 'marketing'];
const COLORS = {
  functional: '#6b7cff', analytics: '#1f9d6b', marketing: '#d9534f',
  accept_all: '#1f4fd1', reject_all: '#8a8a95', custom: '#f0ad4e', gpc: '#5bc0de',
};
const METHODS = ['accept_all', 'reject_all', 'custom', 'gpc'];
const W = 720, H = 260, L = 44, R = 16, T = 14, B = 40;

function el(tag, attrs, parent, text) {
  const e = tag === 'svg' || ['g', 'line', 'polyline', 'circle', 'rect', 'text', 'title'].includes(tag)
    ? document.createElementNS(NS, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function frame(target, label, yTicks) {
  target.replaceChildren();
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label }, target);
  el('title', {}, svg, label);
  for (const [v, text] of yTicks) {
    const y = T + (1 - v) * (H - T - B);
    el('line', { x1: L, x2: W - R, y1: y, y2: y, stroke: '#e3e3e8' }, svg);
    el('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#666' }, svg, text);
  }
  return svg;
}

function xLabels(svg, days, x) {
  const every = Math.max(1, Math.ceil(days.length / 10));
  days.forEach((d, i) => {
    if (i % every === 0) {
      el('text', { x: x(i), y: H - B + 16, 'text-anchor': 'middle', 'font-size': 11, fill: '#666' },
        svg, d.day.slice(5));
    }
  });
}

function legend(target, keys) {
  const box = el('div', { class: 'legend' }, target);
  for (const k of keys) el('span', { class: 'k-' + k }, box, k.replace('_', ' '));
}

function shares(days) {
  const target = document.getElementById('shares');
  const svg = frame(target, 'Share of decisions allowing each category',
    [[0, '0%'], [0.25, '25%'], [0.5, '50%'], [0.75, '75%'], [1, '100%']]);
  const x = (i) => L + (days.length < 2 ? (W - L - R) / 2 : i * (W - L - R) / (days.length - 1));
  const y = (v) => T + (1 - v) * (H - T - B);
  // Each line is drawn narrower than the one before it, so where two
  // categories have the same share on the same days (visitors who allow
  // one allow the other) both colours stay in sight, one inside the other.
  CATS.forEach((c, k) => {
    const pts = days.map((d, i) => `${x(i)},${y(d.allowed[c].share)}`).join(' ');
    el('polyline', { points: pts, fill: 'none', stroke: COLORS[c], 'stroke-width': 5 - 1.5 * k }, svg);
    days.forEach((d, i) => {
      const dot = el('circle', { cx: x(i), cy: y(d.allowed[c].share), r: 5 - k, fill: COLORS[c] }, svg);
      el('title', {}, dot, `${d.day} ${c}: ${Math.round(d.allowed[c].share * 100)}% of ${d.decisions}`);
    });
  });
  xLabels(svg, days, x);
  legend(target, CATS);
}

function methods(days) {
  const target = document.getElementById('methods');
  const max = Math.max(1, ...days.map((d) => d.decisions));
  const svg = frame(target, 'Decisions by method per day',
    [[0, '0'], [0.5, String(Math.round(max / 2))], [1, String(max)]]);
  const slot = (W - L - R) / Math.max(1, days.length);
  const x = (i) => L + slot * (i + 0.5);
  days.forEach((d, i) => {
    let base = H - B;
    for (const m of METHODS) {
      const h = (d.methods[m] / max) * (H - T - B);
      if (h > 0) {
        const bar = el('rect', { x: x(i) - slot * 0.35, y: base - h, width: slot * 0.7, height: h, fill: COLORS[m] }, svg);
        el('title', {}, bar, `${d.day} ${m.replace('_', ' ')}: ${d.methods[m]}`);
      }
      base -= h;
    }
  });
  xLabels(svg, days, x);
  legend(target, METHODS);
}

function totals(days) {
  const table = document.getElementById('totals');
  table.replaceChildren();
  const n = days.reduce((s, d) => s + d.decisions, 0);
  const row = (k, v) => { const tr = el('tr', {}, table); el('th', {}, tr, k); el('td', {}, tr, v); };
  row('decisions', String(n));
  for (const c of CATS) {
    const a = days.reduce((s, d) => s + d.allowed[c].count, 0);
    row(`allowed ${c}`, `${a} (${n ? Math.round((a / n) * 100) : 0}%)`);
  }
  for (const m of METHODS) row(m.replace('_', ' '), String(days.reduce((s, d) => s + d.methods[m], 0)));
}

// The sites the token reaches become the site field's suggestions.
async function suggest(token) {
  const resp = await fetch('v1/admin/sites', { headers: { Authorization: 'Bearer ' + token } });
  if (!resp.ok) return;
  const { sites } = await resp.json();
  document.getElementById('sites').replaceChildren(...sites.map((s) => el('option', { value: s.id })));
}

async function show(form) {
  const status = document.getElementById('status');
  const site = form.site.value.trim();
  sessionStorage.setItem('crumb-token', form.token.value);
  const q = new URLSearchParams();
  if (form.from.value) q.set('from', form.from.value);
  if (form.to.value) q.set('to', form.to.value);
  status.textContent = 'Loading…';
  const resp = await fetch(`v1/admin/sites/${encodeURIComponent(site)}/stats?${q}`, {
    headers: { Authorization: 'Bearer ' + form.token.value },
  });
  const body = await resp.json();
  if (!resp.ok) {
    status.textContent = body.message || 'Request failed';
    document.getElementById('report').hidden = true;
    return;
  }
  status.textContent = body.days.length ? '' : 'No decisions in this range.';
  shares(body.days);
  methods(body.days);
  totals(body.days);
  document.getElementById('report').hidden = false;
}

const form = document.getElementById('login');
form.token.value = sessionStorage.getItem('crumb-token') || '';
const site = new URLSearchParams(location.search).get('site');
if (site) form.site.value = site;
form.addEventListener('submit', (e) => { e.preventDefault(); show(form); });
form.token.addEventListener('change', () => suggest(form.token.value));
if (form.token.value) suggest(form.token.value);
