// The two edge workers in workerd (Cloudflare's runtime, through miniflare
// from scripts/setup-js.sh), with the npm package as wrangler would bundle
// it (its `workerd` export, the .wasm as a compiled module). Offline: the
// email worker's DNS-over-HTTPS lookups are answered by the test.
//
//   node --test wasm/examples/tests/workers.test.mjs [PKG_DIR]   (default wasm/pkg)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLES = path.resolve(HERE, '..');
const PKG = path.resolve(process.env.WAXSEAL_PKG || path.join(EXAMPLES, '../pkg'));
const jsHome = process.env.WAXSEAL_JS_HOME || path.join(process.env.HOME, '.cache/waxseal-js');
const require = createRequire(path.join(jsHome, 'node_modules/'));
const { Miniflare, Log, LogLevel } = require('miniflare');
const waxseal = await import(path.join(PKG, 'node.js'));

const enc = new TextEncoder();
const dec = new TextDecoder();
const ROOT = '/worker'; // module names are relative to this

/**
 * The npm package as modules, the way a bundler resolves `import 'waxseal'`
 * for workerd: the `workerd` export condition of package.json, its files,
 * the .wasm as a compiled WebAssembly module.
 */
function packageModules() {
  const pkg = JSON.parse(readFileSync(path.join(PKG, 'package.json'), 'utf8'));
  const entry = pkg.exports['.'].workerd.replace(/^\.\//, '');
  const modules = pkg.files.filter((f) => /\.(js|wasm)$/.test(f)).map((f) => ({
    type: f.endsWith('.wasm') ? 'CompiledWasm' : 'ESModule',
    path: `${ROOT}/node_modules/waxseal/${f}`,
    contents: readFileSync(path.join(PKG, f)),
  }));
  modules.push({ type: 'ESModule', path: `${ROOT}/waxseal`, contents: `export * from './node_modules/waxseal/${entry}';\n` });
  return modules;
}

/**
 * A worker's src/ files at the root of the module tree: workerd resolves a
 * bare `import 'waxseal'` next to the importing module, so the package's
 * entry sits at the root too, as a bundler would inline it.
 */
function sourceModules(dir) {
  const src = path.join(EXAMPLES, dir, 'src');
  return readdirSync(src).filter((f) => f.endsWith('.js'))
    .map((f) => ({ type: 'ESModule', path: `${ROOT}/${f}`, contents: readFileSync(path.join(src, f)) }));
}

/** miniflare's log, kept (forwarded and rejected mail is reported there). */
class KeptLog extends Log {
  lines = [];
  log(message) {
    // eslint-disable-next-line no-control-regex
    this.lines.push(message.replace(/\x1b\[[0-9;]*m/g, ''));
  }
}

/** miniflare's options for a worker (`dir`) under a test entry module (`main`). */
function options({ main, dir, bindings, outbound, log, stdout }) {
  return {
    modules: [{ type: 'ESModule', path: `${ROOT}/main.mjs`, contents: main }, ...sourceModules(dir), ...packageModules()],
    modulesRoot: ROOT,
    compatibilityDate: '2026-04-01', // wrangler.toml's
    bindings,
    outboundService: outbound,
    unsafeTriggerHandlers: true, // /cdn-cgi/handler/email
    host: '127.0.0.1',
    log,
    // the workers' console output, kept for the test (DEBUG_STDIO=1 shows it)
    handleRuntimeStdio(out, err) {
      for (const s of [out, err]) {
        s.on('data', (d) => {
          stdout.push(String(d));
          if (process.env.DEBUG_STDIO) process.stderr.write(d);
        });
      }
    },
  };
}

async function start(spec) {
  const log = new KeptLog(LogLevel.INFO);
  const stdout = [];
  const mf = new Miniflare(options({ ...spec, log, stdout }));
  await mf.ready;
  return { mf, log, stdout, spec };
}

const MSG = (from = 'alice@example.com', extra = '') => enc.encode(`From: Alice <${from}>\r\nTo: bob@example.net\r\n`
  + `Subject: from the edge\r\nDate: Thu, 03 Dec 2026 09:00:00 +0000\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@example.com>\r\n`
  + `\r\nHello from a Worker.\r\n${extra}`);

const rsa = await waxseal.generateKey({ algorithm: 'rsa', bits: 2048 });
const ed = waxseal.generateKeySync({ algorithm: 'ed25519' });
const records = new Map([
  ['worker2026._domainkey.example.com', waxseal.dnsRecord(rsa, { selector: 'worker2026', domain: 'example.com' })],
  ['worker2026ed._domainkey.example.com', waxseal.dnsRecord(ed, { selector: 'worker2026ed', domain: 'example.com' })],
]);
const resolveTxt = async (name) => (records.has(name) ? [records.get(name).strings] : null);

// ------------------------------------------------------------------ the signing worker

const SIGN_MAIN = `
import worker from './index.js';
// counts the keys imported into WebCrypto, to prove it happens once per isolate
let imports = 0;
const importKey = SubtleCrypto.prototype.importKey;
SubtleCrypto.prototype.importKey = function (...args) {
  imports++;
  return importKey.apply(this, args);
};
export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === '/__test/imports') return Response.json({ imports });
    return worker.fetch(request, env, ctx);
  },
};
`;

const TOKEN = 'test-token-0123456789abcdef';
const SIGN_BINDINGS = {
  DKIM_DOMAIN: 'example.com',
  DKIM_SELECTOR: 'worker2026',
  DKIM_PRIVATE_KEY: rsa.privateKey,
  DKIM_SELECTOR_2: 'worker2026ed',
  DKIM_PRIVATE_KEY_2: ed.privateKey,
  API_TOKEN: TOKEN,
  MAX_MESSAGE_BYTES: '65536',
};

let signer;
before(async () => { signer = await start({ main: SIGN_MAIN, dir: 'sign-worker', bindings: SIGN_BINDINGS }); });
after(async () => { if (signer) await signer.mf.dispose(); });

const post = (body, { token = TOKEN, query = '' } = {}) => signer.mf.dispatchFetch(`http://localhost/sign${query}`, {
  method: 'POST', body, headers: token ? { authorization: `Bearer ${token}`, 'content-type': 'message/rfc822' } : {},
});

test('sign worker: signs with both keys; the result verifies; the key is imported once per isolate', async () => {
  for (let i = 0; i < 5; i++) {
    const message = MSG('alice@example.com', `message ${i}\r\n`);
    const res = await post(message);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'message/rfc822');
    const signed = new Uint8Array(await res.arrayBuffer());
    // the message itself is untouched, byte for byte, under the new fields
    assert.deepEqual(signed.subarray(signed.length - message.length), message);
    const report = await waxseal.verify(signed, { resolveTxt });
    assert.deepEqual(report.results.map((r) => [r.selector, r.result]), [['worker2026', 'pass'], ['worker2026ed', 'pass']]);
  }
  const { imports } = await (await signer.mf.dispatchFetch('http://localhost/__test/imports')).json();
  assert.equal(imports, 2, 'one WebCrypto import per key for five requests');
  const header = await post(MSG(), { query: '?output=header' });
  assert.equal(header.status, 200);
  const fields = await header.text();
  assert.equal((fields.match(/^DKIM-Signature: /gm) ?? []).length, 2);
  assert.match(fields, /a=rsa-sha256; c=relaxed\/relaxed; d=example\.com;/);
  assert.equal((await (await signer.mf.dispatchFetch('http://localhost/__test/imports')).json()).imports, 2);
});

test('sign worker: refuses without the token, other methods, other domains\' mail, non-messages, large bodies', async () => {
  let res = await post(MSG(), { token: null });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await post(MSG(), { token: `${TOKEN}x` })).status, 401);
  assert.equal((await post(MSG(), { token: TOKEN.slice(0, -1) })).status, 401);
  assert.equal((await signer.mf.dispatchFetch('http://localhost/sign')).status, 405);
  res = await post(MSG('mallory@other.example'));
  assert.equal(res.status, 422);
  assert.equal((await res.json()).error, 'from_not_aligned');
  assert.equal((await post(MSG('news@lists.example.com'))).status, 200, 'a subdomain of d= is aligned');
  // every mailbox of a mailbox-list must be in d=, whatever its place or form
  const withFrom = (field) => enc.encode(dec.decode(MSG()).replace(/^From: .*\r\n/, `From: ${field}\r\n`));
  for (const from of ['boss@victim.example, me@example.com', '<boss@victim.example>, Me <me@example.com>', 'me@example.com, "Doe, J" <j@victim.example>']) {
    res = await post(withFrom(from));
    assert.equal(res.status, 422, from);
    assert.match((await res.json()).message, /^From is in victim\.example, not in example\.com/, from);
  }
  assert.equal((await post(withFrom('"Doe, John (a@victim.example)" <john@example.com>, me@example.com (x@victim.example)'))).status, 200,
    'quoted strings and comments are not addresses');
  res = await post(enc.encode('From: a@example.com\r\nFrom: b@example.com\r\n\r\nx\r\n'));
  assert.equal((await res.json()).error, 'several_from');
  res = await post(enc.encode('this is not a mail message\r\n\r\n'));
  assert.equal(res.status, 422);
  assert.equal((await res.json()).error, 'ERR_MALFORMED_MESSAGE');
  res = await post(enc.encode('To: b@example.net\r\n\r\nno From\r\n'));
  assert.equal((await res.json()).error, 'ERR_MISSING_FROM');
  res = await post(MSG('alice@example.com', 'x'.repeat(70000)));
  assert.equal(res.status, 413);
});

test('sign worker: GET /record gives the records to publish', async () => {
  const res = await signer.mf.dispatchFetch('http://localhost/record');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), `${[...records.values()].map((r) => r.zoneLine).join('\n')}\n`);
});

test('sign worker: misconfigured (no token, a public key as secret) is refused, not open', async () => {
  const { API_TOKEN, ...noToken } = SIGN_BINDINGS;
  assert.ok(API_TOKEN);
  const spki = createPublicKey(rsa.privateKey).export({ type: 'spki', format: 'pem' });
  // the p= data of a key record: a public key, though not a PEM
  const pData = createPublicKey(rsa.privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
  for (const bindings of [noToken, { ...SIGN_BINDINGS, DKIM_PRIVATE_KEY: spki }, { ...SIGN_BINDINGS, DKIM_PRIVATE_KEY: 'not a key' },
    { ...SIGN_BINDINGS, DKIM_PRIVATE_KEY: pData }]) {
    await signer.mf.setOptions(options({ ...signer.spec, bindings, log: signer.log, stdout: signer.stdout }));
    const res = await post(MSG());
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: 'misconfigured', message: 'the signing worker is not configured; see its log' });
  }
  assert.match(signer.stdout.join(''), /configuration: the secret API_TOKEN must be set/);
  assert.match(signer.stdout.join(''), /configuration: the secret for selector worker2026 is a public key/);
  assert.equal(signer.stdout.join('').match(/configuration: the key for selector worker2026 is not usable/g).length, 2, 'garbage and p= data');
});

// ------------------------------------------------------------------ the email worker

const EMAIL_MAIN = `
import worker from './index.js';
export default {
  email: worker.email,
  // the handler with a message whose raw stream hands out 64-byte chunks,
  // noting how much of it was read when the first key lookup went out
  async fetch(request, env, ctx) {
    const bytes = new Uint8Array(await request.arrayBuffer());
    let pulled = 0;
    let atFirstLookup = null;
    const realFetch = globalThis.fetch;
    globalThis.fetch = (...args) => {
      if (atFirstLookup === null) atFirstLookup = pulled;
      return realFetch(...args);
    };
    const raw = new ReadableStream({
      pull(c) {
        if (pulled >= bytes.length) return c.close();
        c.enqueue(bytes.slice(pulled, pulled + 64));
        pulled = Math.min(bytes.length, pulled + 64);
      },
    }, { highWaterMark: 0 });
    const out = { size: bytes.length, rejected: null, forwarded: null };
    const message = {
      from: 'alice@example.com', to: 'inbox@example.net', raw, rawSize: bytes.length, headers: new Headers(),
      setReject(reason) { out.rejected = reason; },
      async forward(to, headers) { out.forwarded = { to, headers: [...(headers ?? new Headers())] }; },
    };
    try {
      await worker.email(message, env, ctx);
    } finally {
      globalThis.fetch = realFetch;
    }
    return Response.json({ ...out, atFirstLookup, pulled });
  },
};
`;

/** The DNS-over-HTTPS resolver the worker reaches: answers from `records`, or fails when told. */
function resolver(state) {
  return async (request) => {
    const u = new URL(request.url);
    state.asked.push(`${u.host} ${u.searchParams.get('name')}`);
    if (state.down) return new Response('unavailable', { status: 503 });
    const r = records.get(u.searchParams.get('name'));
    const body = r
      ? { Status: 0, Answer: [{ name: `${u.searchParams.get('name')}.`, type: 16, TTL: 300, data: r.strings.map((s) => `"${s}"`).join(' ') }] }
      : { Status: 3 };
    return Response.json(body, { headers: { 'content-type': 'application/dns-json' } });
  };
}

async function emailWorker(vars) {
  const dns = { asked: [], down: false };
  const w = await start({
    main: EMAIL_MAIN,
    dir: 'email-worker',
    bindings: { FORWARD_TO: 'inbox@example.net', AUTHSERV_ID: 'mx.example.net', ...vars },
    outbound: resolver(dns),
  });
  return { ...w, dns };
}

/** Delivers a message through miniflare's email trigger (the runtime builds message.raw). */
async function deliver(w, raw, from = 'alice@example.com') {
  const before = w.log.lines.length;
  const res = await w.mf.dispatchFetch(`http://localhost/cdn-cgi/handler/email?from=${encodeURIComponent(from)}&to=inbox@example.net`, {
    method: 'POST', body: raw,
  });
  const text = await res.text();
  const logged = w.log.lines.slice(before).join('\n');
  const header = logged.match(/x-waxseal-authentication-results: (.*)/);
  return { status: res.status, text, forwarded: /forwarded message/.test(logged), results: header ? header[1] : null };
}

const signedBy = (key, selector, from) => waxseal.signMessage(MSG(from), { domain: 'example.com', selector, privateKey: key });
const tamper = (bytes) => {
  const t = dec.decode(bytes).replace('Hello from a Worker.', 'Hello from a Worker!');
  return enc.encode(t);
};

test('email worker (REJECT_ON=never): verifies message.raw as it streams, forwards with the results', async (t) => {
  const w = await emailWorker({});
  t.after(() => w.mf.dispose());
  const signed = await signedBy(ed, 'worker2026ed');
  let r = await deliver(w, signed);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.forwarded);
  assert.match(r.results, /^mx\.example\.net; dkim=pass header\.d=example\.com header\.s=worker2026ed header\.a=ed25519-sha256/);
  assert.deepEqual(w.dns.asked, ['cloudflare-dns.com worker2026ed._domainkey.example.com']);
  r = await deliver(w, tamper(signed));
  assert.equal(r.status, 200);
  assert.match(r.results, /dkim=fail reason="body hash mismatch"/);
  r = await deliver(w, MSG());
  assert.match(r.results, /^mx\.example\.net; dkim=none$/);
  assert.match(w.stdout.join(''), /"action":"forward"/);

  // read chunk by chunk: the lookup went out once the header block was in, long before the end
  const big = await waxseal.signMessage(MSG('alice@example.com', 'a line of the body\r\n'.repeat(1000)),
    { domain: 'example.com', selector: 'worker2026', privateKey: rsa });
  const s = await (await w.mf.dispatchFetch('http://localhost/', { method: 'POST', body: big })).json();
  assert.equal(s.rejected, null);
  assert.match(s.forwarded.headers.find(([k]) => k === 'x-waxseal-authentication-results')[1], /dkim=pass header\.d=example\.com header\.s=worker2026 /);
  assert.equal(s.pulled, big.length);
  const headerEnd = dec.decode(big).indexOf('\r\n\r\n') + 4;
  assert.ok(s.atFirstLookup >= headerEnd && s.atFirstLookup < headerEnd + 64, `first lookup after ${s.atFirstLookup} of ${s.size} bytes (header block ends at ${headerEnd})`);
});

test('email worker (REJECT_ON=fail): rejects a broken signature, not an unsigned message or a DNS failure', async (t) => {
  const w = await emailWorker({ REJECT_ON: 'fail' });
  t.after(() => w.mf.dispose());
  const signed = await signedBy(rsa, 'worker2026');
  let r = await deliver(w, tamper(signed));
  assert.equal(r.status, 400);
  assert.equal(r.text, 'Worker rejected email with the following reason: DKIM fail: body hash mismatch (d=example.com s=worker2026)');
  assert.equal(r.forwarded, false);
  assert.match(w.stdout.join(''), /"action":"reject"/);
  r = await deliver(w, signed);
  assert.equal(r.status, 200);
  assert.match(r.results, /dkim=pass/);
  r = await deliver(w, MSG());
  assert.equal(r.status, 200);
  assert.match(r.results, /dkim=none/);
  w.dns.down = true;
  r = await deliver(w, tamper(signed));
  assert.equal(r.status, 200, 'a temporary DNS failure is never a reason to reject');
  assert.match(r.results, /dkim=temperror/);
});

test('email worker (REJECT_ON=no-pass, REQUIRE_ALIGNED): only a passing signature of the From domain gets in', async (t) => {
  const w = await emailWorker({ REJECT_ON: 'no-pass', REQUIRE_ALIGNED: 'true' });
  t.after(() => w.mf.dispose());
  let r = await deliver(w, MSG());
  assert.equal(r.status, 400);
  assert.match(r.text, /DKIM: no valid signature/);
  r = await deliver(w, await signedBy(ed, 'worker2026ed', 'carol@other.example'), 'carol@other.example');
  assert.equal(r.status, 400);
  assert.match(r.text, /DKIM not aligned: d=example\.com is not the From domain/);
  r = await deliver(w, await signedBy(ed, 'worker2026ed', 'dave@news.example.com'), 'dave@news.example.com');
  assert.equal(r.status, 200);
  assert.match(r.results, /dkim=pass/);
  // DNS down: the temporary failure of a signature of another domain (a
  // forger's, whose DNS never answers) does not get a message in; that of
  // the From domain's signature does
  w.dns.down = true;
  r = await deliver(w, await signedBy(ed, 'worker2026ed', 'carol@other.example'), 'carol@other.example');
  assert.equal(r.status, 400, 'an unaligned temperror is no reason to let the message in');
  assert.match(r.text, /DKIM: no valid signature/);
  r = await deliver(w, await signedBy(ed, 'worker2026ed', 'dave@news.example.com'), 'dave@news.example.com');
  assert.equal(r.status, 200, 'an aligned temperror is never a reason to reject');
  assert.match(r.results, /dkim=temperror/);
});

test('email worker: a message the verifier cannot read is permerror; "fail" forwards it, "no-pass" rejects it', async (t) => {
  const unreadable = enc.encode('From: alice@example.com\r\nnot a header field\r\nSubject: x\r\n\r\nhi\r\n');
  for (const [policy, rejected] of [['fail', false], ['no-pass', true]]) {
    const w = await emailWorker({ REJECT_ON: policy, REQUIRE_ALIGNED: 'true' });
    t.after(() => w.mf.dispose());
    const s = await (await w.mf.dispatchFetch('http://localhost/', { method: 'POST', body: unreadable })).json();
    assert.equal(s.rejected !== null, rejected, policy);
    if (!rejected) {
      assert.equal(s.forwarded.headers.find(([k]) => k === 'x-waxseal-authentication-results')[1],
        'mx.example.net; dkim=permerror reason="message not readable"');
    }
    assert.match(w.stdout.join(''), /"dkim":\["permerror \(ERR_MALFORMED_MESSAGE\)"\]/);
  }
});
