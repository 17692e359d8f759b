// The browser page's build and its small static server (Node, no
// dependencies). Used by scripts/www.sh and by the page's tests.
//
//   node scripts/www.mjs build OUT          www/ and the npm package (wasm/pkg) into OUT
//   node scripts/www.mjs serve DIR [PORT]   serves DIR on 127.0.0.1 (PORT 0: any free port)
//
// The Content-Security-Policy comes from the page's own <meta> (one place to
// change it); the server adds what only a header can carry (frame-ancestors)
// and refuses to start when the import map's sha256 in the policy is not the
// import map's, which would leave the page blank.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** MIME types of what the page serves; application/wasm lets WebAssembly stream-compile. */
export const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

/** The policy of index.html's <meta http-equiv="Content-Security-Policy">. */
export function metaPolicy(html) {
  const m = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i.exec(html);
  if (!m) throw new Error('index.html has no Content-Security-Policy <meta>');
  return m[1];
}

/** The sha256 source expression of the inline import map, as CSP hashes it. */
export function importMapHash(html) {
  const m = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('index.html has no import map');
  return `'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`;
}

/**
 * The policy the server sends: the page's own, checked, plus the
 * directives a <meta> cannot carry (CSP3: frame-ancestors is ignored there).
 */
export function headerPolicy(html) {
  const policy = metaPolicy(html);
  const hash = importMapHash(html);
  if (!policy.includes(hash)) {
    throw new Error(`the policy in index.html does not allow its import map: script-src needs ${hash}`);
  }
  return `${policy}; frame-ancestors 'none'`;
}

/** Headers every response carries. */
export function securityHeaders(html) {
  return {
    'content-security-policy': headerPolicy(html),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  };
}

/**
 * Builds the site into `out`: www/ (without its README) and the npm
 * package as pkg/, plus _headers (the same headers, for static hosts that
 * read that file: Cloudflare Pages, Netlify).
 */
export function build(out, { www = path.join(ROOT, 'www'), pkg = path.join(ROOT, 'wasm/pkg') } = {}) {
  if (!existsSync(path.join(pkg, 'wasm/waxseal_wasm_bg.wasm'))) {
    throw new Error(`${pkg} has no built package: run wasm/build.sh npm`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  cpSync(www, out, { recursive: true, filter: (src) => !/(^|\/)README\.md$/.test(src) });
  cpSync(pkg, path.join(out, 'pkg'), { recursive: true });
  const headers = securityHeaders(readFileSync(path.join(out, 'index.html'), 'utf8'));
  writeFileSync(path.join(out, '_headers'), `/*\n${Object.entries(headers).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`);
  return out;
}

/**
 * A static server for a built site: GET and HEAD only, files under `dir`
 * only, the right MIME types, the security headers on every answer.
 */
export function createSiteServer(dir) {
  const root = path.resolve(dir);
  const headers = securityHeaders(readFileSync(path.join(root, 'index.html'), 'utf8'));
  return createServer((req, res) => {
    const send = (status, extra = {}, body = '') => {
      res.writeHead(status, { ...headers, 'cache-control': 'no-cache', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { allow: 'GET, HEAD' });
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    } catch {
      return send(400);
    }
    const file = path.join(root, path.normalize(pathname.endsWith('/') ? `${pathname}index.html` : pathname));
    if (!file.startsWith(root + path.sep) || path.basename(file).startsWith('_')) return send(404, { 'content-type': 'text/plain' }, 'not found\n');
    let st;
    try {
      st = statSync(file);
    } catch {
      return send(404, { 'content-type': 'text/plain' }, 'not found\n');
    }
    if (!st.isFile()) return send(404, { 'content-type': 'text/plain' }, 'not found\n');
    res.writeHead(200, {
      ...headers,
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
}

/** Starts a server on 127.0.0.1; resolves to `{ server, url }`. */
export async function serve(dir, port = 0) {
  const server = createSiteServer(dir);
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, dir, port] = process.argv.slice(2);
  try {
    if (cmd === 'build' && dir) {
      build(path.resolve(dir));
      console.error(`www.mjs: built ${dir}`);
    } else if (cmd === 'serve' && dir) {
      const { url } = await serve(dir, Number(port ?? 8080));
      console.log(`Serving ${dir} at ${url} (only on this machine; Ctrl-C stops)`);
    } else {
      console.error('usage: node scripts/www.mjs build OUT | serve DIR [PORT]');
      process.exitCode = 2;
    }
  } catch (e) {
    console.error(`www.mjs: ${e.message}`);
    process.exitCode = 1;
  }
}
