// Bundles the web console: node build.mjs OUTDIR
//
// OUTDIR/index.html (names the hashed entry files) and OUTDIR/static/*:
// main-<hash>.js (router, navigation, status pages), graph-<hash>.js and the
// chunks it shares (CodeMirror, codemirror-promql, uPlot: loaded only by
// /graph, preloaded by its page); the CSS is inlined into the HTML.
// ts_embed_gen then embeds the directory.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs OUTDIR');
  process.exit(2);
}
rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: ['src/main.js'],
  bundle: true,
  splitting: true,
  format: 'esm',
  minify: true,
  target: ['chrome100', 'firefox100', 'safari15'],
  outdir: join(out, 'static'),
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});
let js, css, graph;
const outputs = result.metafile.outputs;
for (const [file, o] of Object.entries(outputs)) {
  if (o.entryPoint === 'src/main.js') {
    js = basename(file);
    css = o.cssBundle && basename(o.cssBundle);
  }
  if (o.entryPoint === 'src/graph.js') graph = file;
}
// /graph preloads its chunk (and the chunks that one imports) in parallel with main-*.js
const preload = [];
const addPreload = (file) => {
  if (preload.includes(basename(file))) return;
  preload.push(basename(file));
  for (const i of outputs[file].imports) if (i.kind === 'import-statement') addPreload(i.path);
};
if (graph) addPreload(graph);
if (!js || !css) {
  console.error('build.mjs: no entry bundle in the esbuild output');
  process.exit(1);
}
// the stylesheet (2 KB gzipped) is inlined: first paint needs no second request
const style = readFileSync(join(out, 'static', css), 'utf8').trim();
rmSync(join(out, 'static', css));
const html = readFileSync(join(here, 'src/index.html'), 'utf8')
  .replace('%CSS%', () => style)
  .replace('%JS%', `static/${js}`)
  .replace('%GRAPH_PRELOAD%', JSON.stringify(preload.map((f) => `static/${f}`)));
writeFileSync(join(out, 'index.html'), html);
