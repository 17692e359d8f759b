// Runs the shared vectors in workerd (Cloudflare's Workers runtime, through
// miniflare from scripts/setup-js.sh), the package loaded by its `workerd`
// entry: node run-workerd.mjs PKG_DIR VECTORS.json
import { createRequire } from 'node:module';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [pkgDir, vectorsPath] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const jsHome = process.env.WAXSEAL_JS_HOME || path.join(process.env.HOME, '.cache/waxseal-js');
const require = createRequire(path.join(jsHome, 'node_modules/'));
const { Miniflare } = require('miniflare');

const dir = mkdtempSync(path.join(tmpdir(), 'waxseal-workerd-'));
let mf;
try {
  cpSync(pkgDir, path.join(dir, 'pkg'), { recursive: true });
  cpSync(path.join(here, 'compute.mjs'), path.join(dir, 'compute.mjs'));
  writeFileSync(path.join(dir, 'vectors.mjs'), `export default ${readFileSync(vectorsPath, 'utf8')};\n`);
  writeFileSync(path.join(dir, 'worker.mjs'), `
import * as waxseal from './pkg/workerd.js';
import { computeAll } from './compute.mjs';
import vectors from './vectors.mjs';
export default {
  async fetch() {
    try { return Response.json(await computeAll(waxseal, vectors)); }
    catch (e) { return new Response(String((e && e.stack) || e), { status: 500 }); }
  },
};
`);
  mf = new Miniflare({
    modules: true,
    scriptPath: path.join(dir, 'worker.mjs'),
    modulesRoot: dir,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2026-04-01',
    host: '127.0.0.1',
  });
  const res = await mf.dispatchFetch('http://localhost/');
  const text = await res.text();
  if (res.status !== 200) throw new Error(`worker failed: ${text}`);
  process.stdout.write(text);
} finally {
  if (mf) await mf.dispose();
  rmSync(dir, { recursive: true, force: true });
}
