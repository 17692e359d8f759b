// Signing and verifying speed of the npm package in Node, next to mailauth
// (npm, the JavaScript DKIM library) on the same messages in the same run.
//
//   node wasm/bench/bench.mjs [PKG_DIR]       (after wasm/build.sh npm and
//                                              tests/interop/setup.sh)
//
// Prints messages per second for: waxseal sign (WebCrypto path), waxseal
// signSync (WebAssembly path), mailauth dkimSign; waxseal verify (for RSA
// also with WebCrypto in place of node:crypto, as in other runtimes),
// mailauth dkimVerify; and the ratios. Rounds alternate between the libraries so that load changes
// on a shared machine hit both alike; the median round is reported.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = process.argv[2] ?? path.join(here, '../pkg');
const w = await import(pathToFileURL(path.join(pkgDir, 'node.js')).href);
// the package's platform module, as its Node entry set it
const { platform } = await import(pathToFileURL(path.join(pkgDir, 'platform.js')).href);
const nodeVerifyRsa = platform.verifyRsa;
const peers = process.env.WAXSEAL_PEERS_HOME ?? path.join(process.env.HOME, '.cache/waxseal-peers');
const require = createRequire(path.join(peers, 'node_modules/'));
const { dkimSign } = require('mailauth/lib/dkim/sign');
const { dkimVerify } = require('mailauth/lib/dkim/verify');

const repo = path.join(here, '../..');
const keys = {
  rsa: readFileSync(path.join(repo, 'signer-core/tests/vectors/keys/rsa2048.pem'), 'utf8'),
  ed25519: readFileSync(path.join(repo, 'signer-core/tests/vectors/keys/ed25519.pem'), 'utf8'),
};
let body = '';
while (body.length < 2000) body += 'The quick brown fox jumps over the lazy dog, and then  again.\r\n';
const message = Buffer.from('From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.net>\r\n' +
  'Subject: benchmark\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\nMessage-ID: <1@example.com>\r\n\r\n' + body);

async function rate(fn, seconds = 0.4) {
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    await fn();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ROUNDS = 7;

for (const alg of ['ed25519', 'rsa']) {
  const a = alg === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256';
  const opts = { domain: 'example.com', selector: alg, privateKey: keys[alg], timestamp: 1700000000 };
  const maOpts = { signatureData: [{ signingDomain: 'example.com', selector: alg, privateKey: keys[alg], algorithm: a, canonicalization: 'relaxed/relaxed' }] };
  // the same bytes from both paths, and mailauth's signature verifies too
  const h1 = await w.sign(message, opts);
  if (h1 !== w.signSync(message, opts)) throw new Error('WebCrypto and WebAssembly differ');
  const ma = await dkimSign(message, maOpts);
  if (ma.errors?.length) throw new Error(`mailauth: ${ma.errors[0].message}`);
  const record = w.dnsRecord(keys[alg], { selector: alg, domain: 'example.com' });
  const resolveTxt = async () => [record.strings];
  const maResolver = async (name, type) => (type === 'TXT' ? [record.strings] : []);
  const signedW = Buffer.concat([Buffer.from(h1), message]);
  const signedMa = Buffer.concat([Buffer.from(ma.signatures), message]);
  const r1 = await w.verify(signedMa, { resolveTxt });
  const r2 = await dkimVerify(signedW, { resolver: maResolver, curTime: new Date(1700000000 * 1000) });
  if (r1.results[0].result !== 'pass' || r2.results[0].status.result !== 'pass') {
    throw new Error(`cross-verification failed: ${r1.results[0].summary} / ${JSON.stringify(r2.results[0].status)}`);
  }
  const runs = { webcrypto: [], wasm: [], mailauth: [], vWaxseal: [], vWebCrypto: [], vMailauth: [] };
  for (let i = 0; i < ROUNDS; i++) {
    runs.webcrypto.push(await rate(() => w.sign(message, opts)));
    runs.wasm.push(await rate(() => w.signSync(message, opts)));
    runs.mailauth.push(await rate(() => dkimSign(message, maOpts)));
    runs.vWaxseal.push(await rate(() => w.verify(signedW, { resolveTxt, now: 1700000000 })));
    if (alg === 'rsa') {
      platform.verifyRsa = null;
      runs.vWebCrypto.push(await rate(() => w.verify(signedW, { resolveTxt, now: 1700000000 })));
      platform.verifyRsa = nodeVerifyRsa;
    }
    runs.vMailauth.push(await rate(() => dkimVerify(signedW, { resolver: maResolver, curTime: new Date(1700000000 * 1000) })));
  }
  const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
  const f = (x) => x.toFixed(0).padStart(7);
  console.log(`\n${a}, ${message.length}-byte message (median of ${ROUNDS} alternating rounds):`);
  console.log(`  sign   waxseal WebCrypto ${f(m.webcrypto)} msg/s = ${(m.webcrypto / m.mailauth).toFixed(2)}x mailauth`);
  console.log(`  sign   waxseal wasm      ${f(m.wasm)} msg/s = ${(m.wasm / m.mailauth).toFixed(2)}x mailauth`);
  console.log(`  sign   mailauth          ${f(m.mailauth)} msg/s`);
  console.log(`  verify waxseal           ${f(m.vWaxseal)} msg/s = ${(m.vWaxseal / m.vMailauth).toFixed(2)}x mailauth`);
  if (alg === 'rsa') {
    console.log(`  verify waxseal WebCrypto ${f(m.vWebCrypto)} msg/s = ${(m.vWebCrypto / m.vMailauth).toFixed(2)}x mailauth`);
  }
  console.log(`  verify mailauth          ${f(m.vMailauth)} msg/s`);
}
