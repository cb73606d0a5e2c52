// The status pages: each fetches its API and renders tables.  Plain DOM,
// no framework: a page is a function (app) -> Promise.
import { ago, api, errorBox, formatTime, h, labelBadges, useUTC } from './util.js';

const table = (head, rows, cls = 'data') =>
  h('table', { class: cls }, h('thead', null, h('tr', null, head.map((x) => h('th', null, x)))), h('tbody', null, rows));

const healthBadge = (health) =>
  h('span', { class: `badge state-${String(health).toLowerCase()}` }, String(health).toUpperCase());

function fmtRFC(t) {
  const ms = Date.parse(t);
  if (!Number.isFinite(ms) || ms <= 0) return 'never';
  return `${formatTime(ms, useUTC())}${useUTC() ? ' UTC' : ''}`;
}

function fmtSeconds(s) {
  if (s === undefined || s === null) return '';
  if (s < 1) return `${(s * 1000).toFixed(3)}ms`;
  return `${s.toFixed(3)}s`;
}

function groupBy(list, key) {
  const m = new Map();
  for (const x of list) {
    const k = key(x);
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(x);
  }
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function warnings(app, ws) {
  for (const w of ws || []) app.append(errorBox(`Warning: ${w}`, 'warning'));
}

// One error box per failing discoverer (data.discoveryErrors, a Tessera
// addition to /api/v1/targets: there only while a discoverer fails).
function discoveryErrors(app, errs) {
  for (const e of errs || []) {
    const what = `${e.scrapePool}: ${e.mechanism}${e.role ? ` (role ${e.role})` : ''}`;
    const since = e.lastSuccessTime ? `last worked ${fmtRFC(e.lastSuccessTime)}` : 'never worked since start';
    const box = errorBox(`Service discovery failing for ${what}: ${e.lastError}\n(last failure ${fmtRFC(e.lastErrorTime)}; ${since})`);
    box.classList.add('discovery-error');
    box.dataset.pool = e.scrapePool;
    app.append(box);
  }
}

// ---- Targets

async function targets(app) {
  const { data, warnings: ws } = await api('targets', { state: 'active' });
  warnings(app, ws);
  discoveryErrors(app, data.discoveryErrors);
  let onlyUnhealthy = false;
  const body = h('div');
  const pools = groupBy(data.activeTargets || [], (t) => t.scrapePool);
  const filter = h(
    'div',
    { class: 'filters' },
    h('button', { class: 'btn sm active', dataset: { filter: 'all' } }, 'All'),
    h('button', { class: 'btn sm', dataset: { filter: 'unhealthy' } }, 'Unhealthy'),
  );
  filter.addEventListener('click', (e) => {
    const f = e.target.dataset.filter;
    if (!f) return;
    onlyUnhealthy = f === 'unhealthy';
    for (const b of filter.children) b.classList.toggle('active', b === e.target);
    draw();
  });
  const draw = () => {
    body.textContent = '';
    let shown = 0;
    for (const [pool, ts] of pools) {
      const up = ts.filter((t) => t.health === 'up').length;
      const list = onlyUnhealthy ? ts.filter((t) => t.health !== 'up') : ts;
      if (!list.length) continue;
      shown++;
      body.append(
        h(
          'section',
          { class: 'pool', dataset: { pool } },
          h('h3', null, `${pool} `, h('span', { class: up === ts.length ? 'ok' : 'bad' }, `(${up}/${ts.length} up)`)),
          table(
            ['Endpoint', 'State', 'Labels', 'Last Scrape', 'Scrape Duration', 'Error'],
            list.map((t) =>
              h(
                'tr',
                { class: 'target', dataset: { url: t.scrapeUrl, health: t.health } },
                h('td', null, h('a', { href: t.scrapeUrl }, t.scrapeUrl)),
                h('td', null, healthBadge(t.health)),
                h('td', null, labelBadges(t.labels)),
                h('td', { title: t.lastScrape }, ago(t.lastScrape)),
                h('td', null, fmtSeconds(t.lastScrapeDuration)),
                h('td', { class: 'error-text' }, t.lastError || ''),
              ),
            ),
          ),
        ),
      );
    }
    if (!shown) body.append(h('div', { class: 'empty' }, onlyUnhealthy ? 'No unhealthy targets.' : 'No targets.'));
  };
  draw();
  app.append(filter, body);
}

// ---- Service discovery

async function serviceDiscovery(app) {
  const { data, warnings: ws } = await api('targets', { state: 'any' });
  warnings(app, ws);
  discoveryErrors(app, data.discoveryErrors);
  const active = (data.activeTargets || []).map((t) => ({ pool: t.scrapePool, d: t.discoveredLabels, l: t.labels }));
  const dropped = (data.droppedTargets || []).map((t) => ({
    pool: t.scrapePool || (t.discoveredLabels || {}).job || '',
    d: t.discoveredLabels,
    l: null,
  }));
  const pools = groupBy([...active, ...dropped], (x) => x.pool);
  app.append(
    h(
      'ul',
      { class: 'toc' },
      pools.map(([pool, xs]) =>
        h('li', null, h('a', { href: `#pool-${pool}` }, pool), ` (${xs.filter((x) => x.l).length} / ${xs.length} active targets)`),
      ),
    ),
  );
  for (const [pool, xs] of pools) {
    app.append(
      h(
        'section',
        { class: 'pool', id: `pool-${pool}` },
        h('h3', null, pool),
        table(
          ['Discovered Labels', 'Target Labels'],
          xs.map((x) =>
            h('tr', null, h('td', null, labelBadges(x.d)), h('td', null, x.l ? labelBadges(x.l) : h('span', { class: 'badge dropped' }, 'Dropped'))),
          ),
        ),
      ),
    );
  }
  if (!pools.length) app.append(h('div', { class: 'empty' }, 'No targets.'));
}

// ---- Rules

function ruleText(r) {
  const lines = [];
  if (r.type === 'alerting') lines.push(`alert: ${r.name}`);
  else lines.push(`record: ${r.name}`);
  lines.push(`expr: ${r.query}`);
  if (r.type === 'alerting' && r.duration) lines.push(`for: ${r.duration}s`);
  if (r.keepFiringFor) lines.push(`keep_firing_for: ${r.keepFiringFor}s`);
  const lbl = Object.entries(r.labels || {});
  if (lbl.length) lines.push('labels:', ...lbl.map(([k, v]) => `  ${k}: ${v}`));
  const ann = Object.entries(r.annotations || {});
  if (ann.length) lines.push('annotations:', ...ann.map(([k, v]) => `  ${k}: ${v}`));
  return lines.join('\n');
}

const graphLink = (expr) => `graph?g0.expr=${encodeURIComponent(expr)}&g0.tab=1`;

async function rules(app) {
  const { data, warnings: ws } = await api('rules');
  warnings(app, ws);
  const groups = data.groups || [];
  if (!groups.length) app.append(h('div', { class: 'empty' }, 'No rule groups configured.'));
  for (const g of groups) {
    app.append(
      h(
        'section',
        { class: 'rule-group', dataset: { group: g.name } },
        h('h3', null, g.name, h('span', { class: 'muted' }, ` ${g.file || ''} · every ${g.interval}s · last evaluation ${ago(g.lastEvaluation)} · took ${fmtSeconds(g.evaluationTime)}`)),
        table(
          ['Rule', 'State', 'Error', 'Last Evaluation', 'Evaluation Time'],
          (g.rules || []).map((r) =>
            h(
              'tr',
              { class: 'rule', dataset: { name: r.name } },
              h('td', null, h('pre', { class: 'rule-text' }, ruleText(r)), h('a', { href: graphLink(r.query) }, 'graph')),
              h('td', null, healthBadge(r.health)),
              h('td', { class: 'error-text' }, r.lastError || ''),
              h('td', null, ago(r.lastEvaluation)),
              h('td', null, fmtSeconds(r.evaluationTime)),
            ),
          ),
        ),
      ),
    );
  }
}

// ---- Alerts

async function alerts(app) {
  const { data, warnings: ws } = await api('rules', { type: 'alert' });
  warnings(app, ws);
  const list = [];
  for (const g of data.groups || []) for (const r of g.rules || []) if (r.type === 'alerting') list.push({ g, r });
  const show = { inactive: true, pending: true, firing: true };
  const counts = { inactive: 0, pending: 0, firing: 0 };
  for (const { r } of list) counts[r.state] = (counts[r.state] || 0) + 1;
  const body = h('div');
  const filters = h(
    'div',
    { class: 'filters' },
    ['inactive', 'pending', 'firing'].map((s) =>
      h(
        'label',
        { class: `filter state-${s}` },
        h('input', { type: 'checkbox', checked: true, dataset: { state: s }, onchange: (e) => { show[s] = e.target.checked; draw(); } }),
        ` ${s[0].toUpperCase()}${s.slice(1)} (${counts[s]})`,
      ),
    ),
  );
  const draw = () => {
    body.textContent = '';
    const shown = list.filter(({ r }) => show[r.state]);
    if (!shown.length) body.append(h('div', { class: 'empty' }, 'No alerting rules to show.'));
    for (const { g, r } of shown) {
      body.append(
        h(
          'details',
          { class: `alert-rule state-${r.state}`, dataset: { name: r.name, state: r.state }, open: r.state !== 'inactive' },
          h('summary', null, healthBadge(r.state), ` ${r.name} (${(r.alerts || []).length} active) `, h('span', { class: 'muted' }, g.name)),
          h('pre', { class: 'rule-text' }, ruleText(r)),
          (r.alerts || []).length
            ? table(
                ['Labels', 'State', 'Active Since', 'Value'],
                r.alerts.map((a) =>
                  h(
                    'tr',
                    { class: 'alert-instance' },
                    h('td', null, labelBadges(a.labels)),
                    h('td', null, healthBadge(a.state)),
                    h('td', null, a.activeAt ? fmtRFC(a.activeAt) : ''),
                    h('td', null, a.value),
                  ),
                ),
              )
            : null,
        ),
      );
    }
  };
  draw();
  app.append(filters, body);
}

// ---- Runtime & build information, flags, configuration

const kvTable = (obj) =>
  table(
    ['', ''],
    Object.entries(obj || {}).map(([k, v]) =>
      h('tr', { dataset: { key: k } }, h('th', null, k), h('td', null, typeof v === 'object' ? JSON.stringify(v) : String(v))),
    ),
    'data kv',
  );

async function status(app) {
  const [rt, bi, am] = await Promise.allSettled([api('status/runtimeinfo'), api('status/buildinfo'), api('alertmanagers')]);
  app.append(h('h3', null, 'Runtime Information'), rt.status === 'fulfilled' ? kvTable(rt.value.data) : errorBox(rt.reason.message));
  app.append(h('h3', null, 'Build Information'), bi.status === 'fulfilled' ? kvTable(bi.value.data) : errorBox(bi.reason.message));
  if (am.status === 'fulfilled') {
    const a = am.value.data.activeAlertmanagers || [];
    app.append(
      h('h3', null, 'Alertmanagers'),
      a.length ? table(['Endpoint'], a.map((x) => h('tr', null, h('td', null, x.url)))) : h('div', { class: 'empty' }, 'None configured.'),
    );
  }
}

async function flags(app) {
  const { data } = await api('status/flags');
  const rows = Object.keys(data)
    .sort()
    .map((k) => h('tr', { dataset: { flag: k } }, h('td', null, `--${k}`), h('td', null, data[k])));
  const tbl = table(['Flag', 'Value'], rows);
  const filter = h('input', {
    type: 'search',
    placeholder: 'Filter by flag name or value',
    class: 'filter-input',
    oninput: () => {
      const f = filter.value.toLowerCase();
      for (const r of rows) r.hidden = f && !r.textContent.toLowerCase().includes(f);
    },
  });
  app.append(filter, tbl);
}

async function config(app) {
  const { data } = await api('status/config');
  app.append(h('pre', { class: 'config' }, data.yaml || '(no configuration file)'));
}

// ---- TSDB status (shard)

async function tsdbStatus(app) {
  const { data } = await api('status/tsdb');
  const hs = data.headStats || {};
  const t = (ms) => (Number.isFinite(ms) && Math.abs(ms) < 1e15 ? `${formatTime(ms, useUTC())}` : String(ms));
  app.append(
    h('h3', null, 'Head Stats'),
    table(
      ['Number of Series', 'Number of Chunks', 'Number of Label Pairs', 'Current Min Time', 'Current Max Time'],
      [h('tr', null, h('td', null, hs.numSeries), h('td', null, hs.chunkCount), h('td', null, hs.numLabelPairs), h('td', null, t(hs.minTime)), h('td', null, t(hs.maxTime)))],
    ),
  );
  const sections = [
    ['seriesCountByMetricName', 'Top 10 series count by metric names', 'Name', 'Count'],
    ['labelValueCountByLabelName', 'Top 10 label names with value count', 'Name', 'Count'],
    ['memoryInBytesByLabelName', 'Top 10 label names with high memory usage', 'Name', 'Bytes'],
    ['seriesCountByLabelValuePair', 'Top 10 series count by label value pairs', 'Name', 'Count'],
  ];
  for (const [key, title, a, b] of sections) {
    app.append(h('h3', null, title), table([a, b], (data[key] || []).map((x) => h('tr', null, h('td', null, x.name), h('td', null, x.value)))));
  }
}

// ---- Stores (querier)

// A store's shard identity: its external labels without the replica labels (what the querier
// groups replicas by; --query.replica-label from the flags, "replica" by default).
function shardIdentity(labelSets, replica) {
  return (labelSets || [])
    .map((l) => {
      const keys = Object.keys(l).filter((k) => !replica.includes(k)).sort();
      return `{${keys.map((k) => `${k}="${l[k]}"`).join(', ')}}`;
    })
    .join(' ');
}

async function stores(app) {
  const [{ data, warnings: ws }, flagsRes] = await Promise.all([api('stores'), api('status/flags').catch(() => null)]);
  warnings(app, ws);
  const replica = [flagsRes?.data?.['query.replica-label'] || 'replica'];
  const types = Object.keys(data || {}).sort();
  if (!types.length) app.append(h('div', { class: 'empty' }, 'No stores.'));
  for (const type of types) {
    const list = data[type] || [];
    app.append(
      h('h3', null, `${type} (${list.filter((s) => s.healthy ?? !s.lastError).length}/${list.length} healthy)`),
      table(
        ['Store', 'Health', 'Last Check', 'Label Sets', 'Shard', 'Min Time', 'Max Time', 'Component', 'Last Error'],
        list.map((s) => {
          const up = s.healthy ?? !s.lastError;
          const tm = (ms) => (ms <= -9e15 ? '-∞' : ms >= 9e15 ? '+∞' : formatTime(ms, useUTC()));
          return h(
            'tr',
            { class: 'store', dataset: { name: s.name, health: up ? 'up' : 'down' } },
            h('td', null, s.name),
            h('td', null, healthBadge(up ? 'up' : 'down')),
            h('td', null, s.lastCheck ? ago(s.lastCheck) : 'never'),
            h('td', null, (s.labelSets || []).map((l) => h('div', null, labelBadges(l)))),
            h('td', { class: 'shard-id' }, s.labelSets?.length ? shardIdentity(s.labelSets, replica) : ''),
            h('td', null, tm(s.minTime)),
            h('td', null, tm(s.maxTime)),
            h('td', null, s.componentType || ''),
            h('td', { class: 'error-text' }, s.lastError || ''),
          );
        }),
      ),
    );
  }
}

export const statusPages = {
  alerts: { title: 'Alerts', fn: alerts },
  rules: { title: 'Rules', fn: rules },
  targets: { title: 'Targets', fn: targets },
  'service-discovery': { title: 'Service Discovery', fn: serviceDiscovery },
  status: { title: 'Runtime & Build Information', fn: status },
  flags: { title: 'Command-Line Flags', fn: flags },
  config: { title: 'Configuration', fn: config },
  'tsdb-status': { title: 'TSDB Status', fn: tsdbStatus },
  stores: { title: 'Stores', fn: stores },
};

export async function renderStatusPage(page, app) {
  const p = statusPages[page];
  app.append(h('h2', null, p.title));
  const body = h('div', { class: 'page-body', dataset: { state: 'loading' } });
  app.append(body);
  try {
    await p.fn(body);
    body.dataset.state = 'done';
  } catch (e) {
    body.append(errorBox(`Error fetching ${p.title.toLowerCase()}: ${e.message}`));
    body.dataset.state = 'error';
  }
}
