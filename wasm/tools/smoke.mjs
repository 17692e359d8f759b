// Smoke checks for the tools scripts/setup-js.sh installs; run by it after an install
// (or with --check).  Each check is also the reference snippet for tests: see README.md.
//   node wasm/tools/smoke.mjs [wasm-opt|chromium|axe|miniflare|deno|tsc ...]   (default: all)
// Needs WAXSEAL_JS_HOME (the state dir with node_modules) in the environment.
// Offline: every server listens on 127.0.0.1 only; nothing is fetched.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const HOME = process.env.WAXSEAL_JS_HOME;
if (!HOME) throw new Error('WAXSEAL_JS_HOME is not set');
const require = createRequire(path.join(HOME, 'node_modules', 'x.js'));
const BIN = path.join(HOME, 'node_modules', '.bin');
const CHROMIUM = process.env.WAXSEAL_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
const ADD_WASM = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01,
  0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x0a, 0x09,
  0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b]);

const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, ...opts }).trim();

function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

const checks = {
  // wasm-opt from the npm binaryen package (never Debian's binaryen)
  async 'wasm-opt'(dir) {
    fs.writeFileSync(path.join(dir, 'in.wasm'), ADD_WASM);
    run(path.join(BIN, 'wasm-opt'), ['-O', path.join(dir, 'in.wasm'), '-o', path.join(dir, 'out.wasm')]);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(path.join(dir, 'out.wasm'))));
    expect('wasm-opt output add(2,3)', inst.exports.add(2, 3), 5);
    return run(path.join(BIN, 'wasm-opt'), ['--version']);
  },

  // Debian's Chromium driven by playwright-core, on a page served from 127.0.0.1
  async chromium(dir) {
    const { chromium } = require('playwright-core');
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>loading</title><script>' +
        `WebAssembly.instantiate(new Uint8Array([${ADD_WASM}]))` +
        '.then(r => { document.title = "add=" + r.instance.exports.add(2, 3); });</script>');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      // a fresh profile dir: playwright refuses --user-data-dir in args, so it goes here;
      // the XDG dirs keep Chromium's crashpad database and dconf out of $HOME
      const context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
        executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000,
        env: { ...process.env, XDG_CONFIG_HOME: path.join(dir, 'config'), XDG_CACHE_HOME: path.join(dir, 'cache') },
      });
      try {
        const page = context.pages()[0] ?? await context.newPage();
        await page.goto(`http://127.0.0.1:${server.address().port}/`);
        await page.waitForFunction(() => document.title !== 'loading', null, { timeout: 30_000 });
        expect('page title', await page.title(), 'add=5');
        return `chromium ${context.browser()?.version() ?? '?'} via playwright-core ${require('playwright-core/package.json').version}`;
      } finally {
        await context.close();
      }
    } finally {
      server.close();
    }
  },

  // axe-core through @axe-core/playwright (the page's accessibility test): it must find the
  // violations of a page that has two (an image without alt text, an input without a label)
  async axe(dir) {
    const { chromium } = require('playwright-core');
    const { AxeBuilder } = require('@axe-core/playwright');
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html lang="en"><title>axe</title><main><h1>axe</h1>' +
        '<img src="data:,"><input type="text"></main>');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const browser = await chromium.launch({
      executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000,
      env: { ...process.env, XDG_CONFIG_HOME: path.join(dir, 'config'), XDG_CACHE_HOME: path.join(dir, 'cache') },
    });
    try {
      const page = await (await browser.newContext()).newPage();  // AxeBuilder wants a context of its own
      await page.goto(`http://127.0.0.1:${server.address().port}/`);
      const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
      expect('axe violations', violations.map((v) => v.id).sort().join(' '), 'image-alt label');
      return `axe-core ${require('axe-core/package.json').version} via @axe-core/playwright ${
        JSON.parse(fs.readFileSync(path.join(HOME, 'node_modules/@axe-core/playwright/package.json'), 'utf8')).version}`;
    } finally {
      await browser.close();
      server.close();
    }
  },

  // an ES-module worker importing a .wasm file as a WebAssembly.Module, in workerd via miniflare
  async miniflare(dir) {
    const { Miniflare } = require('miniflare');
    fs.writeFileSync(path.join(dir, 'add.wasm'), ADD_WASM);
    fs.writeFileSync(path.join(dir, 'worker.mjs'), [
      "import addModule from './add.wasm';",
      'export default {',
      '  async fetch(request) {',
      '    const { exports } = await WebAssembly.instantiate(addModule);',
      '    return new Response(`add=${exports.add(2, 3)} module=${addModule instanceof WebAssembly.Module}`);',
      '  },',
      '};',
    ].join('\n'));
    const mf = new Miniflare({
      modules: true,
      scriptPath: path.join(dir, 'worker.mjs'),
      modulesRoot: dir,
      modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
      compatibilityDate: '2026-04-01',
      host: '127.0.0.1',
    });
    try {
      const res = await mf.dispatchFetch('http://localhost/');
      expect('worker status', res.status, 200);
      expect('worker answer', await res.text(), 'add=5 module=true');
      const url = await mf.ready;  // the same worker over real HTTP on 127.0.0.1
      expect('worker over http', await (await fetch(url)).text(), 'add=5 module=true');
      return `miniflare ${require('miniflare/package.json').version} (workerd ${require('workerd/package.json').version})`;
    } finally {
      await mf.dispose();
    }
  },

  // deno eval, and a local ES module that imports node:fs
  async deno(dir) {
    const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: process.env.DENO_DIR || path.join(dir, 'deno-dir') };
    expect('deno eval', run(path.join(BIN, 'deno'), ['eval', 'console.log(1 + 1)'], { env }), '2');
    fs.writeFileSync(path.join(dir, 'uses-fs.mjs'),
      "import fs from 'node:fs';\nexport const read = (p) => fs.readFileSync(p, 'utf8');\n");
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello');
    fs.writeFileSync(path.join(dir, 'main.mjs'),
      "import { read } from './uses-fs.mjs';\nconsole.log(read(new URL('./hello.txt', import.meta.url)));\n");
    expect('deno run', run(path.join(BIN, 'deno'),
      ['run', '--no-remote', '--no-prompt', `--allow-read=${dir}`, path.join(dir, 'main.mjs')], { env }), 'hello');
    return run(path.join(BIN, 'deno'), ['--version'], { env }).split('\n')[0];
  },

  // tsc --noEmit on a .d.ts (and a user of it; a wrong use must fail)
  async tsc(dir) {
    fs.writeFileSync(path.join(dir, 'api.d.ts'), [
      'export function double(x: number): number;',
      'export function bytes(): Uint8Array;',
      'export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;',
      'export default function init(input?: InitInput | Promise<InitInput>): Promise<void>;',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, 'good.mts'), "import { double } from './api.js';\nexport const n: number = double(2);\n");
    fs.writeFileSync(path.join(dir, 'bad.mts'), "import { bytes } from './api.js';\nexport const s: string = bytes();\n");
    const opts = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'es2022',
      '--moduleResolution', 'bundler', '--lib', 'es2022,dom'];
    const tsc = path.join(BIN, 'tsc');
    run(tsc, [...opts, path.join(dir, 'api.d.ts'), path.join(dir, 'good.mts')]);
    let failed = false;
    try { run(tsc, [...opts, path.join(dir, 'api.d.ts'), path.join(dir, 'bad.mts')]); } catch { failed = true; }
    expect('tsc rejects a wrong use', failed, true);
    return `tsc ${run(tsc, ['--version'])}`;
  },
};

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(checks);
let bad = 0;
for (const name of names) {
  if (!checks[name]) throw new Error(`unknown check ${name}; known: ${Object.keys(checks).join(' ')}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `waxseal-smoke-${name}-`));
  const t0 = Date.now();
  try {
    console.log(`ok ${name}: ${await checks[name](dir)} (${Date.now() - t0} ms)`);
  } catch (e) {
    bad++;
    console.log(`FAILED ${name}: ${e.stack || e}${e.stderr ? `\n${e.stderr}` : ''}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
// no process.exit() here: miniflare's dispose() removes its temp dir in the background
process.exitCode = bad ? 1 : 0;
setTimeout(() => process.exit(), 10_000).unref();
