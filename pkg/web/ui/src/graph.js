// The /graph page: query panels, each with a PromQL editor (CodeMirror 6 +
// codemirror-promql: highlighting, linting, completion from the API), a
// Table tab (instant query) and a Graph tab (range query, chart.js).
//
// The URL holds the whole state in Prometheus 2.42's format, so its links
// (Alertmanager's, Grafana's) open the same view:
//   g0.expr, g0.tab (0 graph, else table), g0.stacked, g0.range_input,
//   g0.end_input / g0.moment_input (UTC "YYYY-MM-DD HH:mm:ss"), g0.step_input,
// and on the querier Thanos' g0.deduplicate and g0.partial_response.
import { EditorView, keymap, placeholder } from '@codemirror/view';
import { EditorState, Prec } from '@codemirror/state';
import { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from '@codemirror/commands';
import {
  acceptCompletion,
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
  completionStatus,
} from '@codemirror/autocomplete';
import { HighlightStyle, syntaxHighlighting, bracketMatching } from '@codemirror/language';
import { lintKeymap } from '@codemirror/lint';
import { tags } from '@lezer/highlight';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';
import {
  api,
  base,
  component,
  errorBox,
  formatBytes,
  formatDuration,
  formatLabels,
  formatTime,
  h,
  parseDuration,
  parseTime,
  useUTC,
} from './util.js';
import { drawChart } from './chart.js';

const isQuerier = component === 'query';
const rangeSteps = [
  1, 10, 60, 5 * 60, 15 * 60, 30 * 60, 3600, 2 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400,
  7 * 86400, 14 * 86400, 28 * 86400, 56 * 86400, 112 * 86400, 182 * 86400, 365 * 86400,
  730 * 86400,
].map((s) => s * 1000);
const maxTableRows = 10000;

const highlight = HighlightStyle.define([
  { tag: tags.number, color: '#09885a' },
  { tag: tags.string, color: '#a31515' },
  { tag: tags.keyword, color: '#008080', fontWeight: 'bold' },
  { tag: tags.function(tags.variableName), color: '#008080', fontWeight: 'bold' },
  { tag: tags.labelName, color: '#800000' },
  { tag: tags.operator, color: '#0000ff' },
  { tag: tags.modifier, color: '#0000ff', fontWeight: 'bold' },
  { tag: tags.paren, color: '#555' },
  { tag: tags.squareBracket, color: '#555' },
  { tag: tags.brace, color: '#555' },
  { tag: tags.invalid, color: 'red' },
  { tag: tags.comment, color: '#888', fontStyle: 'italic' },
]);

const promql = new PromQLExtension().setComplete({
  remote: { url: location.origin + base, cache: { maxAge: 5 * 60 * 1000 } },
});

function defaultOptions() {
  return {
    expr: '',
    tab: 'table',
    range: 3600e3,
    endTime: null,
    resolution: null,
    stacked: false,
    dedup: true,
    partial: false,
  };
}

// Prometheus 2.42's decodePanelOptionsFromQueryString: panel N starts at its
// gN.expr= and takes every later gN.* parameter with a non-empty value.
export function decodePanels(search) {
  if (!search || search === '?') return [];
  const params = search.replace(/^\?/, '').split('&');
  const panels = [];
  params.forEach((p, i) => {
    const prefix = `g${panels.length}.`;
    if (!p.startsWith(`${prefix}expr=`)) return;
    const o = defaultOptions();
    for (const q of params.slice(i)) {
      if (!q.startsWith(prefix) || !/^g\d+\..+=.+$/.test(q)) continue;
      const eq = q.indexOf('=');
      const key = q.slice(prefix.length, eq);
      let val;
      try {
        val = decodeURIComponent(q.slice(eq + 1).replace(/\+/g, ' '));
      } catch {
        continue;
      }
      switch (key) {
        case 'expr':
          o.expr = val;
          break;
        case 'tab':
          o.tab = val === '0' ? 'graph' : 'table';
          break;
        case 'stacked':
          o.stacked = val === '1';
          break;
        case 'range_input': {
          const r = parseDuration(val);
          if (r !== null) o.range = r;
          break;
        }
        case 'end_input':
        case 'moment_input': {
          const t = parseTime(val, true);
          if (t !== null) o.endTime = t;
          break;
        }
        case 'step_input': {
          const s = parseInt(val, 10);
          if (s > 0) o.resolution = s;
          break;
        }
        case 'deduplicate':
          o.dedup = val === '1';
          break;
        case 'partial_response':
          o.partial = val === '1';
          break;
      }
    }
    panels.push(o);
  });
  return panels;
}

export function encodePanels(panels) {
  return panels
    .map((o, i) => {
      const p = `g${i}.`;
      let s = `${p}expr=${encodeURIComponent(o.expr)}&${p}tab=${o.tab === 'graph' ? 0 : 1}`;
      s += `&${p}stacked=${o.stacked ? 1 : 0}&${p}show_exemplars=0`;
      s += `&${p}range_input=${formatDuration(o.range)}`;
      if (o.endTime !== null) {
        const t = encodeURIComponent(formatTime(o.endTime, true));
        s += `&${p}end_input=${t}&${p}moment_input=${t}`;
      }
      if (o.resolution) s += `&${p}step_input=${o.resolution}`;
      if (isQuerier) s += `&${p}deduplicate=${o.dedup ? 1 : 0}&${p}partial_response=${o.partial ? 1 : 0}`;
      return s;
    })
    .join('&');
}

let panels = [];

function updateURL() {
  const q = encodePanels(panels.map((p) => p.o));
  window.history.replaceState(null, '', `${location.pathname}${q ? `?${q}` : ''}`);
}

export function renderGraphPage(app) {
  const list = h('div', { class: 'panels' });
  const add = h('button', { class: 'btn add-panel', onclick: () => addPanel(defaultOptions(), true) }, 'Add Panel');
  app.append(list, add);
  const addPanel = (o, focus) => {
    const p = new Panel(o, () => {
      panels = panels.filter((x) => x !== p);
      p.root.remove();
      updateURL();
    });
    panels.push(p);
    list.append(p.root);
    if (focus) p.view.focus();
    return p;
  };
  const initial = decodePanels(location.search);
  if (!initial.length) initial.push(defaultOptions());
  for (const o of initial) addPanel(o, false);
  updateURL();
  panels[0]?.view.focus();
  for (const p of panels) if (p.o.expr) p.execute();
  window.addEventListener('tessera-tz', () => {
    for (const p of panels) p.redraw();
  });
  performance.mark('tessera-graph-ready'); // editors in place: the browser test's first-paint figure
}

class Panel {
  constructor(o, onRemove) {
    this.o = o;
    this.lastResult = null;
    this.chart = null;
    this.abort = null;

    this.editorEl = h('div', { class: 'editor' });
    this.view = new EditorView({
      parent: this.editorEl,
      state: EditorState.create({
        doc: o.expr,
        extensions: [
          history(),
          closeBrackets(),
          bracketMatching(),
          autocompletion(),
          syntaxHighlighting(highlight),
          placeholder('Expression (press Shift+Enter for newlines)'),
          EditorView.lineWrapping,
          promql.asExtension(),
          Prec.highest(
            keymap.of([
              {
                key: 'Enter',
                run: (v) => {
                  // with the completion list open, Enter accepts the selected option (a no-op in
                  // the list's first 75 ms, as CodeMirror's interactionDelay wants); never a newline
                  if (completionStatus(v.state) === 'active') {
                    acceptCompletion(v);
                    return true;
                  }
                  this.execute();
                  return true;
                },
              },
              { key: 'Shift-Enter', run: insertNewlineAndIndent },
            ]),
          ),
          keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) {
              this.o.expr = u.state.doc.toString();
              updateURL();
            }
          }),
        ],
      }),
    });

    const tabBtn = (tab, text) =>
      h('button', { class: `tab${o.tab === tab ? ' active' : ''}`, dataset: { tab }, onclick: () => this.setTab(tab) }, text);
    this.tabs = [tabBtn('table', 'Table'), tabBtn('graph', 'Graph')];
    this.stats = h('span', { class: 'stats' });
    this.alerts = h('div', { class: 'panel-alerts' });

    // time control shared by both tabs (Prometheus: table "evaluation time" = graph "end")
    this.timeInput = h('input', {
      type: 'text',
      class: 'time-input',
      placeholder: 'Evaluation time (now)',
      size: 19,
      onchange: () => {
        const v = this.timeInput.value.trim();
        const t = v ? parseTime(v, useUTC()) : null;
        if (v && t === null) {
          this.showTime();
          return;
        }
        this.o.endTime = t;
        this.changed();
      },
    });
    const shift = (dir) => () => {
      const now = Date.now();
      const step = this.o.tab === 'graph' ? this.o.range / 2 : 60e3;
      this.o.endTime = Math.min(now, (this.o.endTime ?? now) + dir * step);
      if (dir > 0 && this.o.endTime >= now) this.o.endTime = null;
      this.changed();
    };
    const timeCtl = h(
      'span',
      { class: 'ctl-group' },
      h('button', { class: 'btn sm', title: 'Earlier', onclick: shift(-1) }, '«'),
      this.timeInput,
      h('button', { class: 'btn sm', title: 'Later', onclick: shift(1) }, '»'),
      h('button', { class: 'btn sm', title: 'Now', onclick: () => { this.o.endTime = null; this.changed(); } }, 'now'),
    );

    this.rangeInput = h('input', {
      type: 'text',
      class: 'range-input',
      size: 6,
      title: 'Range (e.g. 1h, 30m, 2d)',
      onchange: () => {
        const r = parseDuration(this.rangeInput.value.trim());
        if (r) this.o.range = r;
        this.changed();
      },
    });
    const rangeStep = (dir) => () => {
      const r = this.o.range;
      const next =
        dir > 0 ? rangeSteps.find((s) => s > r) ?? r : [...rangeSteps].reverse().find((s) => s < r) ?? r;
      this.o.range = next;
      this.changed();
    };
    this.resInput = h('input', {
      type: 'text',
      class: 'res-input',
      size: 8,
      title: 'Resolution in seconds (empty: automatic)',
      onchange: () => {
        const s = parseInt(this.resInput.value, 10);
        this.o.resolution = s > 0 ? s : null;
        this.changed();
      },
    });
    this.stackBtn = h('button', { class: 'btn sm', onclick: () => { this.o.stacked = !this.o.stacked; this.changed(); } });
    this.graphCtl = h(
      'span',
      { class: 'ctl-group graph-only' },
      h('button', { class: 'btn sm', title: 'Shorter range', onclick: rangeStep(-1) }, '−'),
      this.rangeInput,
      h('button', { class: 'btn sm', title: 'Longer range', onclick: rangeStep(1) }, '+'),
      h('span', { class: 'ctl-label' }, 'Res.'),
      this.resInput,
      this.stackBtn,
    );

    const toggles = isQuerier
      ? h(
          'span',
          { class: 'ctl-group' },
          h('label', null, h('input', { type: 'checkbox', class: 'dedup', checked: o.dedup, onchange: (e) => { this.o.dedup = e.target.checked; this.changed(); } }), ' Use Deduplication'),
          h('label', null, h('input', { type: 'checkbox', class: 'partial', checked: o.partial, onchange: (e) => { this.o.partial = e.target.checked; this.changed(); } }), ' Use Partial Response'),
        )
      : null;

    this.tableEl = h('div', { class: 'table-out' });
    this.chartEl = h('div', { class: 'chart' });
    this.legendEl = h('div', { class: 'legend' });
    this.graphEl = h('div', { class: 'graph-out' }, this.chartEl, this.legendEl);

    this.root = h(
      'section',
      { class: 'panel' },
      h(
        'div',
        { class: 'expr-row' },
        this.editorEl,
        h('button', { class: 'btn primary execute', onclick: () => this.execute() }, 'Execute'),
        h('button', { class: 'btn remove', title: 'Remove panel', onclick: onRemove }, '×'),
      ),
      toggles,
      h('div', { class: 'tab-row' }, this.tabs, this.stats),
      this.alerts,
      h('div', { class: 'controls' }, timeCtl, this.graphCtl),
      this.tableEl,
      this.graphEl,
    );
    this.showControls();
  }

  showTime() {
    this.timeInput.value = this.o.endTime === null ? '' : formatTime(this.o.endTime, useUTC());
  }

  showControls() {
    const graph = this.o.tab === 'graph';
    for (const b of this.tabs) b.classList.toggle('active', b.dataset.tab === this.o.tab);
    this.graphCtl.hidden = !graph;
    this.tableEl.hidden = graph;
    this.graphEl.hidden = !graph;
    this.showTime();
    this.rangeInput.value = formatDuration(this.o.range);
    this.resInput.value = this.o.resolution ?? '';
    this.resInput.placeholder = `${this.autoStep()}s`;
    this.stackBtn.textContent = this.o.stacked ? 'Stacked' : 'Lines';
    this.stackBtn.title = this.o.stacked ? 'Draw lines' : 'Stack the series';
    this.root.dataset.tab = this.o.tab;
  }

  autoStep() {
    return Math.max(Math.floor(this.o.range / 250000), 1); // Prometheus' ~250 points
  }

  setTab(tab) {
    if (this.o.tab === tab) return;
    this.o.tab = tab;
    this.changed();
  }

  changed() {
    this.showControls();
    updateURL();
    if (this.o.expr.trim()) this.execute();
  }

  redraw() {
    this.showControls();
    if (this.lastResult && this.o.tab === 'graph' && this.lastResult.kind === 'graph') this.drawGraph(this.lastResult);
  }

  async execute() {
    const expr = this.view.state.doc.toString();
    this.o.expr = expr;
    updateURL();
    this.alerts.textContent = '';
    if (!expr.trim()) return;
    if (this.abort) this.abort.abort();
    const ac = new AbortController();
    this.abort = ac;
    this.root.classList.add('loading');
    this.root.dataset.state = 'loading';
    const graph = this.o.tab === 'graph';
    const end = this.o.endTime ?? Date.now();
    const params = { query: expr };
    let step = 0;
    let start = 0;
    if (graph) {
      step = this.o.resolution || this.autoStep();
      start = end - this.o.range;
      Object.assign(params, { start: start / 1000, end: end / 1000, step });
    } else {
      params.time = end / 1000;
    }
    if (isQuerier) {
      params.dedup = String(this.o.dedup);
      params.partial_response = String(this.o.partial);
    }
    try {
      const r = await api(graph ? 'query_range' : 'query', params, { method: 'POST', signal: ac.signal });
      if (ac !== this.abort) return;
      for (const w of r.warnings) this.alerts.append(errorBox(`Warning: ${w}`, 'warning'));
      const res = { kind: graph ? 'graph' : 'table', data: r.data, start: start / 1000, end: end / 1000, step };
      this.lastResult = res;
      const n = Array.isArray(r.data.result) ? r.data.result.length : 1;
      this.stats.textContent =
        `Load time: ${Math.round(r.ms)}ms` +
        (graph ? ` · Resolution: ${step}s` : '') +
        ` · Result series: ${n} · Result size: ${formatBytes(r.bytes)}`;
      if (graph) this.drawGraph(res);
      else this.drawTable(r.data);
      this.root.dataset.state = 'done';
    } catch (e) {
      if (e.name === 'AbortError') return;
      for (const w of e.warnings || []) this.alerts.append(errorBox(`Warning: ${w}`, 'warning'));
      this.alerts.append(errorBox(`Error executing query: ${e.message}`));
      this.stats.textContent = '';
      this.tableEl.textContent = '';
      this.clearChart();
      this.root.dataset.state = 'error';
    } finally {
      if (ac === this.abort) this.root.classList.remove('loading');
    }
  }

  clearChart() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
    this.chartEl.textContent = '';
    this.legendEl.textContent = '';
  }

  drawGraph(res) {
    this.clearChart();
    const d = res.data;
    if (d.resultType !== 'matrix') {
      this.chartEl.append(errorBox(`Query result is of wrong type '${d.resultType}', should be 'matrix' (range vector).`));
      return;
    }
    if (!d.result.length) {
      this.chartEl.append(h('div', { class: 'empty' }, 'Empty query result'));
      return;
    }
    this.chart = drawChart(this.chartEl, this.legendEl, d.result, {
      start: res.start,
      end: res.end,
      step: res.step,
      stacked: this.o.stacked,
      utc: useUTC(),
    });
    // uPlot draws in a microtask; record the time once it has
    queueMicrotask(() => {
      if (this.chart) this.root.dataset.drawMs = this.chart.drawMs.toFixed(1);
    });
  }

  drawTable(d) {
    const t = this.tableEl;
    t.textContent = '';
    const rows = [];
    switch (d.resultType) {
      case 'vector':
        for (const s of d.result.slice(0, maxTableRows))
          rows.push([formatLabels(s.metric), s.value[1]]);
        break;
      case 'matrix':
        for (const s of d.result.slice(0, maxTableRows))
          rows.push([formatLabels(s.metric), s.values.map(([ts, v]) => `${v} @${ts}`).join('\n')]);
        break;
      case 'scalar':
        rows.push(['scalar', d.result[1]]);
        break;
      case 'string':
        rows.push(['string', d.result[1]]);
        break;
    }
    if (!rows.length) {
      t.append(h('div', { class: 'empty' }, 'Empty query result'));
      return;
    }
    const total = Array.isArray(d.result) && d.resultType !== 'scalar' && d.resultType !== 'string' ? d.result.length : 1;
    if (total > maxTableRows) t.append(errorBox(`Showing ${maxTableRows} of ${total} series.`, 'warning'));
    t.append(
      h(
        'table',
        { class: 'data result' },
        h('tbody', null, rows.map(([k, v]) => h('tr', null, h('td', { class: 'series' }, k), h('td', { class: 'value' }, v)))),
      ),
    );
  }
}
