// Shared helpers: DOM building, the HTTP API client, formatting of times,
// durations, values and label sets.
//
// Every URL is relative to the page's own directory (base), so the console
// works under --web.route-prefix and behind a proxy that adds a path.

export const base = location.pathname.replace(/\/[^/]*$/, '');
export const component =
  document.querySelector('meta[name="tessera-component"]')?.content || 'shard';

// h('div', {class: 'x', onclick: f}, child, 'text', [more]) -> element
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(e.style, v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(e, c);
    else e.append(c instanceof Node ? c : String(c));
  }
}

export class ApiError extends Error {
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

// api('query', {query: 'up'}, {method: 'POST'}) -> {data, warnings, ms, bytes}.
// Throws ApiError with Prometheus' error text ("bad_data: ..." is in .type / .message).
export async function api(path, params, { method = 'GET', signal } = {}) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    for (const x of Array.isArray(v) ? v : [v]) body.append(k, String(x));
  }
  let url = `${base}/api/v1/${path}`;
  const init = { method, signal, headers: {} };
  if (method === 'GET') {
    const q = body.toString();
    if (q) url += `?${q}`;
  } else {
    init.body = body;
  }
  const t0 = performance.now();
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError('network', `cannot reach the server: ${e.message}`, 0);
  }
  const text = await res.text();
  const ms = performance.now() - t0;
  let j;
  try {
    j = JSON.parse(text);
  } catch {
    throw new ApiError('http', `HTTP ${res.status}: ${text.trim().slice(0, 300)}`, res.status);
  }
  if (j.status !== 'success') {
    const err = new ApiError(j.errorType || 'error', j.error || `HTTP ${res.status}`, res.status);
    err.warnings = j.warnings || [];
    throw err;
  }
  return { data: j.data, warnings: j.warnings || [], ms, bytes: text.length };
}

// ---- formatting

export function formatLabels(metric, withName = true) {
  const name = withName ? metric.__name__ || '' : '';
  const parts = Object.keys(metric)
    .filter((k) => k !== '__name__')
    .map((k) => `${k}=${JSON.stringify(metric[k])}`);
  return `${name}{${parts.join(', ')}}`;
}

// 1234567 -> "1.235M", 0.0012 -> "1.2m"
const siPrefixes = ['y', 'z', 'a', 'f', 'p', 'n', 'µ', 'm', '', 'k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];
export function formatSI(v) {
  if (v === null || v === undefined) return '';
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const e = Math.max(-8, Math.min(8, Math.floor(Math.log10(Math.abs(v)) / 3)));
  const scaled = v / 10 ** (3 * e);
  const s = Number(scaled.toPrecision(4)).toString();
  return s + siPrefixes[e + 8];
}

// ms -> "1h30m" (Prometheus' formatDuration)
export function formatDuration(ms) {
  if (ms === 0) return '0s';
  const units = [
    ['y', 365 * 24 * 3600e3],
    ['w', 7 * 24 * 3600e3],
    ['d', 24 * 3600e3],
    ['h', 3600e3],
    ['m', 60e3],
    ['s', 1e3],
    ['ms', 1],
  ];
  let r = ms;
  let out = '';
  for (const [u, n] of units) {
    if (r >= n) {
      out += Math.floor(r / n) + u;
      r %= n;
    }
  }
  return out;
}

// "1h30m" -> ms, or null (Prometheus' duration syntax)
export function parseDuration(s) {
  if (!s) return null;
  if (s === '0') return 0;
  const m = s.match(/^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/);
  if (!m || m[0] === '') return null;
  const mult = [365 * 24 * 3600e3, 7 * 24 * 3600e3, 24 * 3600e3, 3600e3, 60e3, 1e3, 1];
  let ms = 0;
  for (let i = 0; i < 7; i++) if (m[i + 1]) ms += parseInt(m[i + 1], 10) * mult[i];
  return ms;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// ms -> "YYYY-MM-DD HH:mm:ss" in UTC or local time
export function formatTime(ms, utc = true) {
  const d = new Date(ms);
  return utc
    ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// "YYYY-MM-DD HH:mm[:ss]" (UTC or local) -> ms, or null
export function parseTime(s, utc = true) {
  const m = (s || '').trim().match(/^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/);
  if (!m) return null;
  const a = [+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)];
  const t = utc ? Date.UTC(...a) : new Date(...a).getTime();
  return Number.isFinite(t) ? t : null;
}

// RFC 3339 time -> "12.3s ago" (or "never" for the zero time)
export function ago(rfc3339) {
  const t = Date.parse(rfc3339);
  if (!Number.isFinite(t) || t <= 0) return 'never';
  const s = (Date.now() - t) / 1000;
  if (s < 0) return 'just now';
  if (s < 60) return `${s.toFixed(1)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.floor(s % 60)}s ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h ago`;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// UTC or local time: a browser setting kept in localStorage (read once: the first read of
// localStorage is a synchronous trip to the browser process)
let utcSetting = null;
export function useUTC() {
  if (utcSetting === null) utcSetting = localStorage.getItem('tessera.localTime') !== '1';
  return utcSetting;
}

export function setUseUTC(utc) {
  utcSetting = utc;
  localStorage.setItem('tessera.localTime', utc ? '0' : '1');
}

// A label set as badges
export function labelBadges(labels) {
  return h(
    'span',
    { class: 'labels' },
    Object.keys(labels || {})
      .sort()
      .map((k) => h('span', { class: 'badge' }, `${k}="${labels[k]}"`)),
  );
}

export function errorBox(msg, kind = 'error') {
  return h('div', { class: `alert ${kind}`, role: 'alert' }, msg);
}
