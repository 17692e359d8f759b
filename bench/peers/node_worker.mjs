// The JavaScript contenders of the cross-peer benchmark (run.py):
//
//   node node_worker.mjs waxseal KEYDIR [PKG_DIR]   waxseal's npm package: sign()
//                                                   through WebCrypto, verify()
//   node node_worker.mjs mailauth KEYDIR            mailauth (tests/interop/setup.sh)
//
// Speaks the workers' line protocol on stdin/stdout (README.md). Keys come
// from KEYDIR (rsa.pem, ed.pem, records.json); records reach both through
// their resolver hooks, no DNS is used. The work is awaited one operation
// at a time, as a mail server handling one message would.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const here = path.dirname(fileURLToPath(import.meta.url));
const [face, keydir, pkgArg] = process.argv.slice(2);
const keys = {
  rsa: readFileSync(path.join(keydir, 'rsa.pem'), 'utf8'),
  ed: readFileSync(path.join(keydir, 'ed.pem'), 'utf8'),
};
const records = JSON.parse(readFileSync(path.join(keydir, 'records.json'), 'utf8'));
const HEADERS = ['From', 'To', 'Subject', 'Date', 'Message-ID'];
const txt = (name) => {
  const value = records[name.toLowerCase().replace(/\.$/, '')];
  if (value === undefined) {
    const e = new Error(`no record for ${name}`);
    e.code = 'ENOTFOUND';
    throw e;
  }
  const strings = [];
  for (let i = 0; i < value.length; i += 255) strings.push(value.slice(i, i + 255));
  return [strings];
};

let sign;
let verify;
if (face === 'waxseal') {
  const pkg = pkgArg ?? path.join(here, '../../wasm/pkg');
  const w = await import(pathToFileURL(path.join(pkg, 'node.js')).href);
  const options = (alg) => ({ domain: 'example.com', selector: alg, privateKey: keys[alg], headers: HEADERS });
  // `dual`: both keys in one pass, the RSA signature first
  sign = async (alg, msg) => w.sign(msg, alg === 'dual' ? [options('rsa'), options('ed')] : options(alg));
  const resolveTxt = async (name) => txt(name);
  verify = async (msg) => {
    const r = await w.verify(msg, { resolveTxt });
    if (r.results.length === 0) throw new Error('no signature');
    for (const s of r.results) if (s.result !== 'pass') throw new Error(s.summary);
  };
} else if (face === 'mailauth') {
  const peers = process.env.WAXSEAL_PEERS_HOME ?? path.join(process.env.HOME, '.cache/waxseal-peers');
  const require = createRequire(path.join(peers, 'node_modules/'));
  const { dkimSign } = require('mailauth/lib/dkim/sign');
  const { dkimVerify } = require('mailauth/lib/dkim/verify');
  const algs = { rsa: 'rsa-sha256', ed: 'ed25519-sha256' };
  const data = (alg) => ({ signingDomain: 'example.com', selector: alg, privateKey: keys[alg], algorithm: algs[alg], canonicalization: 'relaxed/relaxed' });
  sign = async (alg, msg) => {
    const r = await dkimSign(msg, {
      signatureData: alg === 'dual' ? [data('rsa'), data('ed')] : [data(alg)],
      signHeaderKeys: HEADERS,
    });
    if (r.errors?.length) throw new Error(r.errors[0].message);
    return r.signatures;
  };
  const resolver = async (name, type) => (type === 'TXT' ? txt(name) : []);
  verify = async (msg) => {
    const r = await dkimVerify(msg, { resolver });
    if (r.results.length === 0) throw new Error('no signature');
    for (const s of r.results) if (s.status.result !== 'pass') throw new Error(`${s.status.result} ${s.status.comment ?? ''}`);
  };
} else {
  console.error('usage: node_worker.mjs waxseal|mailauth KEYDIR [PKG_DIR]');
  process.exit(2);
}

const files = new Map();
const load = (p) => {
  if (!files.has(p)) files.set(p, readFileSync(p));
  return files.get(p);
};

for await (const line of createInterface({ input: process.stdin })) {
  const w = line.trim().split(/\s+/);
  if (w[0] === 'quit') break;
  try {
    let reply;
    if (w[0] === 'sign' && w.length === 4) {
      const msg = load(w[2]);
      const n = Number(w[3]);
      const start = performance.now();
      for (let i = 0; i < n; i++) await sign(w[1], msg);
      reply = ((performance.now() - start) / 1000).toFixed(9);
    } else if (w[0] === 'signout' && w.length === 4) {
      const msg = load(w[2]);
      writeFileSync(w[3], Buffer.concat([Buffer.from(await sign(w[1], msg)), msg]));
      reply = '0';
    } else if (w[0] === 'verify' && w.length === 3) {
      const msg = load(w[1]);
      const n = Number(w[2]);
      const start = performance.now();
      for (let i = 0; i < n; i++) await verify(msg);
      reply = ((performance.now() - start) / 1000).toFixed(9);
    } else {
      throw new Error(`unknown command: ${line}`);
    }
    process.stdout.write(`ok ${reply}\n`);
  } catch (e) {
    process.stdout.write(`err ${String(e?.message ?? e).replace(/\s+/g, ' ')}\n`);
  }
}
