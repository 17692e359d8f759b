// Runs the shared vectors in headless Chromium (Debian's, via playwright-core
// from scripts/setup-js.sh), on a page served from 127.0.0.1:
// node run-chromium.mjs PKG_DIR VECTORS.json
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [pkgDir, vectorsPath] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const jsHome = process.env.WAXSEAL_JS_HOME || path.join(process.env.HOME, '.cache/waxseal-js');
const require = createRequire(path.join(jsHome, 'node_modules/'));
const { chromium } = require('playwright-core');

const page = `<!doctype html><meta charset="utf-8"><script type="module">
import * as waxseal from '/pkg/browser.js';
import { computeAll } from '/compute.mjs';
try {
  const vectors = await (await fetch('/vectors.json')).json();
  window.__result = await computeAll(waxseal, vectors);
} catch (e) { window.__error = String((e && e.stack) || e); }
</script>`;
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  let file;
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(page);
  } else if (url.pathname === '/compute.mjs') file = path.join(here, 'compute.mjs');
  else if (url.pathname === '/vectors.json') file = vectorsPath;
  else if (url.pathname.startsWith('/pkg/')) file = path.join(pkgDir, path.normalize(url.pathname.slice(5)));
  try {
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const dir = mkdtempSync(path.join(tmpdir(), 'waxseal-chromium-'));
let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.WAXSEAL_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    env: { ...process.env, XDG_CONFIG_HOME: path.join(dir, 'config'), XDG_CACHE_HOME: path.join(dir, 'cache') },
  });
  const p = await browser.newPage();
  p.on('pageerror', (e) => process.stderr.write(`page error: ${e}\n`));
  await p.goto(`http://127.0.0.1:${server.address().port}/`);
  await p.waitForFunction(() => window.__result || window.__error, null, { timeout: 300000 });
  const error = await p.evaluate(() => window.__error);
  if (error) throw new Error(error);
  process.stdout.write(JSON.stringify(await p.evaluate(() => window.__result)));
} finally {
  if (browser) await browser.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
