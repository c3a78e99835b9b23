#!/usr/bin/env node
// Builds tirai's web apps (design §12) into <distDir>:
//   relay/talent/index.html, relay/s/index.html, relay/assets/…, relay/favicon.svg
//   admin/index.html, admin/assets/…, admin/favicon.svg
// and, with --cpp FILE, a C++ source that embeds every one of those files
// (relay/web/assets.hpp's table). Usage:
//   node web/build.mjs --out <distDir> [--cpp <file.cpp>]
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants as zc } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));

// Each app: its site, the folder its page is served from, and its title.
const APPS = [
  // The phone line's SIP stack (JsSIP) is loaded only once the relay sends a
  // SIP account: most consoles never need it, and it is twice the rest.
  {
    name: 'talent',
    site: 'relay',
    page: 'talent/index.html',
    title: 'tirai · talent',
    lazy: { name: 'sip', entry: 'src/talent/sip.js', define: '__SIP_MODULE__' },
  },
  { name: 'client', site: 'relay', page: 's/index.html', title: 'tirai' },
  { name: 'operator', site: 'admin', page: 'index.html', title: 'tirai · operator' },
];
const SITES = ['relay', 'admin'];

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function usage(msg) {
  if (msg) console.error(`build.mjs: ${msg}`);
  console.error('usage: node web/build.mjs --out <distDir> [--cpp <file.cpp>]');
  process.exit(2);
}

function parseArgs(argv) {
  const out = { out: null, cpp: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const take = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--out') out.out = take();
    else if (a.startsWith('--out=')) out.out = a.slice(6);
    else if (a === '--cpp') out.cpp = take();
    else if (a.startsWith('--cpp=')) out.cpp = a.slice(6);
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!out.out) usage('--out is required');
  return out;
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const gzip = (buf) => gzipSync(buf, { level: zc.Z_BEST_COMPRESSION });

// Bundles one entry (JS or CSS) into a single minified file's bytes.
// `define`: names replaced by values (JSON text) in the code.
async function bundle(entry, define = {}) {
  const result = await build({
    entryPoints: [path.join(here, entry)],
    bundle: true,
    minify: true,
    format: 'esm',
    // Chromium 80+ (cheap Android phones' WebView): esbuild lowers newer syntax.
    target: ['chrome80'],
    charset: 'utf8',
    legalComments: 'none',
    sourcemap: false,
    write: false,
    outdir: 'out',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"', ...define },
    // A lazily loaded module of the same site (see APPS' lazy).
    external: ['/assets/*'],
    absWorkingDir: here,
  });
  if (result.outputFiles.length !== 1) {
    throw new Error(`${entry}: expected one output, got ${result.outputFiles.map((f) => f.path).join(', ')}`);
  }
  return Buffer.from(result.outputFiles[0].contents);
}

function escapeHtml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// The page: no inline script or style anywhere (the CSP forbids both).
function pageHtml({ title, css, js }) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/${css}">
<script type="module" src="/assets/${js}"></script>
</head>
<body>
<noscript><p class="noscript">This page needs JavaScript. / Halaman ini memerlukan JavaScript.</p></noscript>
<div id="app"><p class="page">Loading… / Memuat…</p></div>
</body>
</html>
`;
}

const hashed = (name, ext, buf) => `${name}-${sha256(buf).slice(0, 8)}${ext}`;

async function writeSite(dist, files) {
  for (const [rel, buf] of files) {
    const p = path.join(dist, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, buf);
  }
}

// Every file under dir, as paths relative to it with '/' separators, sorted.
async function walk(dir, prefix = '') {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(path.join(dir, e.name), rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out.sort();
}

// ---- the C++ table ----

// A C++ string literal for `buf`: printable ASCII as is, everything else and
// `"`, `\` and `?` (no trigraphs) as 3-digit octal escapes, so a following
// digit is never taken into the escape; split into adjacent literals of
// about 4 KB.
export function cppLiteral(buf, indent = '     ') {
  const PIECE = 4096;
  const pieces = [];
  let cur = '';
  for (const b of buf) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x22 && b !== 0x5c && b !== 0x3f) cur += String.fromCharCode(b);
    else cur += '\\' + b.toString(8).padStart(3, '0');
    if (cur.length >= PIECE) {
      pieces.push(cur);
      cur = '';
    }
  }
  if (cur || pieces.length === 0) pieces.push(cur);
  return pieces.map((p) => `"${p}"`).join(`\n${indent}`);
}

// The path a file is served at: index.html is its folder with a slash.
export function servedPath(rel) {
  if (rel === 'index.html') return '/';
  if (rel.endsWith('/index.html')) return '/' + rel.slice(0, -'index.html'.length);
  return '/' + rel;
}

export function cppSource(entries) {
  const rows = entries.map((e) => {
    const body = `{${cppLiteral(e.body)}, ${e.body.length}}`;
    const gz = e.gzip ? `{${cppLiteral(e.gzip)}, ${e.gzip.length}}` : '{"", 0}';
    return `  {"${e.site}", "${e.path}", "${e.type}", "\\"${e.etag}\\"", ${e.immutable}, ${body}, ${gz}},`;
  });
  return `// Generated by web/build.mjs: do not edit.
#include "relay/web/assets.hpp"
namespace tirai::relay::web {
namespace {
constexpr Asset table[] = {
${rows.join('\n')}
};
}  // namespace
std::span<const Asset> embedded_assets() { return table; }
}  // namespace tirai::relay::web
`;
}

async function writeIfChanged(file, text) {
  let old = null;
  try {
    old = await readFile(file, 'utf8');
  } catch {
    old = null;
  }
  if (old === text) return false;
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, text);
  return true;
}

const kb = (n) => (n / 1024).toFixed(1) + ' KB';

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const dist = path.resolve(args.out);
  const favicon = await readFile(path.join(here, 'public/favicon.svg'));

  const siteFiles = { relay: new Map(), admin: new Map() };
  const firstLoads = { relay: [], admin: [] };
  const lazyLoads = [];
  for (const app of APPS) {
    const files = siteFiles[app.site];
    const define = {};
    if (app.lazy) {
      const lazy = await bundle(app.lazy.entry);
      const lazyName = hashed(app.lazy.name, '.js', lazy);
      files.set(`assets/${lazyName}`, lazy);
      define[app.lazy.define] = JSON.stringify(`/assets/${lazyName}`);
      lazyLoads.push(`${app.site} /assets/${lazyName} ${gzip(lazy).length} B gzip, loaded by ${servedPath(app.page)} when needed`);
    }
    const js = await bundle(`src/${app.name}/main.js`, define);
    const css = await bundle(`src/${app.name}/app.css`);
    const jsName = hashed(app.name, '.js', js);
    const cssName = hashed(app.name, '.css', css);
    const page = Buffer.from(pageHtml({ title: app.title, css: cssName, js: jsName }), 'utf8');
    files.set(`assets/${jsName}`, js);
    files.set(`assets/${cssName}`, css);
    files.set(app.page, page);
    firstLoads[app.site].push({
      path: servedPath(app.page),
      html: gzip(page).length,
      js: gzip(js).length,
      css: gzip(css).length,
    });
  }
  for (const site of SITES) siteFiles[site].set('favicon.svg', favicon);

  // A clean tree each time: old hashed names go.
  for (const site of SITES) {
    await rm(path.join(dist, site), { recursive: true, force: true });
    await writeSite(path.join(dist, site), siteFiles[site]);
  }

  for (const site of SITES) {
    const parts = firstLoads[site].map((p) => {
      const total = p.html + p.js + p.css;
      return `${p.path} ${total} B gzip (${kb(total)}: html ${p.html} + js ${p.js} + css ${p.css})`;
    });
    console.log(`${site}: first load per page: ${parts.join('; ')}`);
  }
  for (const line of lazyLoads) console.log(line);

  if (args.cpp) {
    const entries = [];
    for (const site of SITES) {
      for (const rel of await walk(path.join(dist, site))) {
        const body = await readFile(path.join(dist, site, rel));
        const type = TYPES[path.extname(rel)] || 'application/octet-stream';
        const gz = gzip(body);
        entries.push({
          site,
          path: servedPath(rel),
          type,
          etag: sha256(body).slice(0, 16),
          immutable: rel.startsWith('assets/'),
          body,
          gzip: gz.length < body.length ? gz : null,
        });
      }
    }
    const changed = await writeIfChanged(args.cpp, cppSource(entries));
    console.log(`${args.cpp}: ${entries.length} files, ${changed ? 'written' : 'unchanged'}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}
