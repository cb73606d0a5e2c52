// The console's entry: navigation, then the page the URL names.  /graph
// loads its own chunk (CodeMirror and uPlot); the status pages are here.
import './style.css';
import { component, h, setUseUTC, useUTC } from './util.js';
import { renderStatusPage, statusPages } from './status.js';

const page = location.pathname.replace(/^.*\//, '') || 'graph';
const app = document.getElementById('app');
const nav = document.getElementById('nav');

const links = [
  ['graph', 'Graph'],
  ['alerts', 'Alerts'],
  ['rules', 'Rules'],
  ['targets', 'Targets'],
  ['service-discovery', 'Service Discovery'],
  component === 'query' ? ['stores', 'Stores'] : ['tsdb-status', 'TSDB Status'],
  ['status', 'Runtime & Build Info'],
  ['flags', 'Command-Line Flags'],
  ['config', 'Configuration'],
];
nav.append(
  h('span', { class: 'component' }, component),
  ...links.map(([p, text]) => h('a', { href: p, class: p === page ? 'active' : null }, text)),
  h(
    'label',
    { class: 'tz', title: 'Show times in local time instead of UTC' },
    h('input', {
      type: 'checkbox',
      id: 'local-time',
      checked: !useUTC(),
      onchange: (e) => {
        setUseUTC(!e.target.checked);
        window.dispatchEvent(new Event('tessera-tz'));
      },
    }),
    ' Local time',
  ),
);

if (page === 'graph') {
  document.title = 'Tessera · Graph';
  import('./graph.js').then((m) => m.renderGraphPage(app));
} else if (statusPages[page]) {
  document.title = `Tessera · ${statusPages[page].title}`;
  renderStatusPage(page, app);
} else {
  app.append(h('div', { class: 'alert error' }, `unknown page ${page}`));
}
