// The Graph tab's chart: a range query's matrix drawn with uPlot, lines or
// stacked, SI units on the value axis, time in UTC or local time, a legend
// (click: show only that series, again: all; Ctrl/Cmd-click: toggle one) and
// a tooltip for the series nearest to the cursor (time, value, labels).
import uPlot from 'uplot';
import { formatLabels, formatSI, formatTime, h } from './util.js';

const palette = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
  '#bcbd22', '#17becf', '#393b79', '#ad494a', '#637939', '#8c6d31', '#843c39', '#7b4173',
  '#3182bd', '#e6550d', '#31a354', '#756bb1',
];
export const colorOf = (i) => palette[i % palette.length];

function parseValue(s) {
  const v = parseFloat(s);
  return Number.isFinite(v) ? v : null; // NaN and infinities are gaps, as Prometheus draws them
}

// Aligns the matrix on the query's step grid: [xs, ys per series, raw ys per series].
function align(result, start, end, step) {
  const n = Math.max(1, Math.floor((end - start) / step + 1e-9) + 1);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = start + i * step;
  const ys = result.map((s) => {
    const y = new Array(n).fill(null);
    for (const [t, v] of s.values) {
      const i = Math.round((t - start) / step);
      if (i >= 0 && i < n) y[i] = parseValue(v);
    }
    return y;
  });
  return [xs, ys];
}

function hasIsolated(y) {
  for (let i = 0; i < y.length; i++)
    if (y[i] !== null && (i === 0 || y[i - 1] === null) && (i === y.length - 1 || y[i + 1] === null)) return true;
  return false;
}

function stack(ys) {
  const acc = new Float64Array(ys.length ? ys[0].length : 0);
  return ys.map((y) =>
    y.map((v, i) => {
      if (v === null) return null;
      acc[i] += v;
      return acc[i];
    }),
  );
}

// Draws into el (cleared first) and returns {destroy, drawMs}.
//   opts: {start, end, step (s), stacked, utc, height}
export function drawChart(el, legendEl, result, opts) {
  const t0 = performance.now();
  el.textContent = '';
  legendEl.textContent = '';
  const [xs, raw] = align(result, opts.start, opts.end, opts.step);
  const ys = opts.stacked ? stack(raw) : raw;
  const names = result.map((s) => formatLabels(s.metric));
  const series = [{}];
  result.forEach((s, i) => {
    const c = colorOf(i);
    series.push({
      label: names[i],
      stroke: c,
      width: 1.5,
      fill: opts.stacked ? `${c}55` : undefined,
      // isolated samples (no neighbour to draw a line to) are drawn as dots, as Prometheus does
      points: { show: hasIsolated(raw[i]), size: 5, fill: c },
      spanGaps: false,
    });
  });
  const bands = [];
  if (opts.stacked) for (let i = 2; i <= result.length; i++) bands.push({ series: [i, i - 1] });

  const tip = h('div', { class: 'chart-tooltip', hidden: true });
  let drawMs = 0;
  const u = new uPlot(
    {
      width: Math.max(300, el.clientWidth || 800),
      height: opts.height || 400,
      series,
      bands,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      tzDate: opts.utc ? (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC') : (ts) => new Date(ts * 1e3),
      scales: { x: { time: true } },
      axes: [
        { stroke: '#555', grid: { stroke: '#eee' } },
        {
          stroke: '#555',
          grid: { stroke: '#eee' },
          size: 60,
          values: (u_, splits) => splits.map(formatSI),
        },
      ],
      hooks: {
        draw: [() => (drawMs = performance.now() - t0)],
        setCursor: [(u_) => tooltip(u_, tip, raw, result, opts.utc)],
      },
    },
    [xs, ...ys],
    el,
  );
  u.over.append(tip);

  // legend
  const items = result.map((s, i) =>
    h(
      'div',
      {
        class: 'legend-item',
        title: 'Click: show only this series (again: all). Ctrl/Cmd-click: toggle it.',
        onclick: (e) => {
          const idx = i + 1;
          const shown = series.map((_, k) => k > 0 && u.series[k].show);
          const only = shown.filter(Boolean).length === 1 && shown[idx];
          for (let k = 1; k < series.length; k++) {
            let show;
            if (e.ctrlKey || e.metaKey) show = k === idx ? !shown[k] : shown[k];
            else show = only ? true : k === idx;
            if (u.series[k].show !== show) u.setSeries(k, { show });
            items[k - 1].classList.toggle('off', !show);
          }
        },
      },
      h('span', { class: 'swatch', style: { background: colorOf(i) } }),
      h('span', { class: 'legend-name' }, names[i]),
    ),
  );
  legendEl.append(...items);

  const ro = new ResizeObserver(() => {
    const w = el.clientWidth;
    if (w && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
  });
  ro.observe(el);
  return {
    get drawMs() {
      return drawMs;
    },
    destroy() {
      ro.disconnect();
      u.destroy();
    },
  };
}

function tooltip(u, tip, raw, result, utc) {
  const { idx, left, top } = u.cursor;
  if (idx === null || idx === undefined || left < 0) {
    tip.hidden = true;
    return;
  }
  // the shown series' sample nearest to the cursor (within 30 px)
  const xs = u.data[0];
  let best = -1;
  let bestIdx = -1;
  let bestDist = 30;
  let lo = idx;
  let hi = idx;
  while (lo > 0 && u.valToPos(xs[lo - 1], 'x') > left - 30) lo--;
  while (hi < xs.length - 1 && u.valToPos(xs[hi + 1], 'x') < left + 30) hi++;
  for (let k = 1; k < u.series.length; k++) {
    if (!u.series[k].show) continue;
    for (let j = lo; j <= hi; j++) {
      const v = u.data[k][j];
      if (v === null || v === undefined) continue;
      const d = Math.hypot(u.valToPos(v, 'y') - top, u.valToPos(xs[j], 'x') - left);
      if (d < bestDist) {
        bestDist = d;
        best = k;
        bestIdx = j;
      }
    }
  }
  if (best < 0) {
    tip.hidden = true;
    return;
  }
  const t = xs[bestIdx] * 1000;
  const v = raw[best - 1][bestIdx];
  const metric = result[best - 1].metric;
  tip.textContent = '';
  tip.append(
    h('div', { class: 'tt-time' }, `${formatTime(t, utc)}${utc ? ' UTC' : ''}`),
    h(
      'div',
      { class: 'tt-series' },
      h('span', { class: 'swatch', style: { background: colorOf(best - 1) } }),
      h('span', { class: 'tt-name' }, metric.__name__ || '(no name)'),
      h('span', { class: 'tt-value' }, `: ${v}`),
    ),
    h(
      'div',
      { class: 'tt-labels' },
      Object.keys(metric)
        .filter((k) => k !== '__name__')
        .sort()
        .map((k) => h('div', null, h('b', null, k), `: ${metric[k]}`)),
    ),
  );
  tip.hidden = false;
  const w = u.over.clientWidth;
  const tw = tip.offsetWidth;
  tip.style.left = `${left + 12 + tw > w ? Math.max(0, left - tw - 12) : left + 12}px`;
  tip.style.top = `${Math.max(0, top + 12)}px`;
}
