// `verify` does the RSA public-key operations natively (in Node with
// node:crypto, the entry's `platform.verifyRsa`; else on WebCrypto) and
// every other check in WebAssembly. These tests hold both native paths to
// the verdicts of WebAssembly alone (the core's), on the public vectors the
// Rust tests check (signer-core/tests/vectors/MANIFEST.tsv) and on tampered
// copies of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { verify } from 'waxseal';

// the package's own platform module, as its Node entry set it (the same
// module instance: resolved next to the entry)
const { platform } = await import(new URL('./platform.js', import.meta.resolve('waxseal')).href);
const nodeVerifyRsa = platform.verifyRsa;

const repo = process.env.WAXSEAL_REPO;
const VECTORS = repo && join(repo, 'signer-core/tests/vectors');
// the Rust manifest test's fixed time (after every vector's t=)
const NOW = 1764547200;

// A record file as the Rust tests read it (KeyAnswer::from_record_text):
// NXDOMAIN, zone-file quoted strings, or the record on plain lines.
function recordOf(text) {
  text = text.replace(/^\ufeff/, '');
  if (text.trim() === 'NXDOMAIN') return null;
  if (!text.includes('"')) return [text.split('\n').map((l) => l.trim()).join('')];
  assert.ok(!text.includes('\\'), 'escapes in a record file: extend recordOf');
  return [...text.matchAll(/"([^"]*)("|$)/g)].map((m) => m[1]);
}

function resolverFor(spec) {
  const map = new Map();
  for (const part of spec.split(',').filter(Boolean)) {
    const p = join(VECTORS, part);
    const files = statSync(p).isDirectory() ? readdirSync(p).map((f) => join(p, f)) : [p];
    for (const f of files.filter((f) => f.endsWith('.txt'))) {
      const name = f.split('/').pop().slice(0, -4).toLowerCase();
      map.set(name, recordOf(readFileSync(f, 'latin1')));
    }
  }
  return async (name) => {
    const r = map.get(name.toLowerCase());
    if (r) return [r];
    throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  };
}

function rows() {
  const lines = readFileSync(join(VECTORS, 'MANIFEST.tsv'), 'utf8').split('\n').slice(1);
  return lines.filter((l) => l.trim()).map((l) => {
    const [file, keys, , , policy] = l.split('\t');
    return {
      file,
      message: readFileSync(join(VECTORS, file)),
      options: {
        resolveTxt: resolverFor(keys),
        now: NOW,
        policy: policy === 'lax' ? { allowRsaSha1: true, minRsaBits: 512 } : {},
      },
    };
  });
}

// The row with its Subject changed: a signature covering it must now fail
// at the public-key operation (the body hash still matches).
function tampered(message) {
  const i = message.indexOf('\nSubject:');
  if (i < 0) return null;
  return Buffer.concat([message.subarray(0, i + 9), Buffer.from(' X'), message.subarray(i + 9)]);
}

// Runs `f` with globalThis.crypto replaced by `value`.
async function withCrypto(value, f) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  Object.defineProperty(globalThis, 'crypto', { value, configurable: true, writable: true });
  try {
    return await f();
  } finally {
    Object.defineProperty(globalThis, 'crypto', saved);
  }
}

// Runs `f` with the entry's native RSA check replaced by `value`.
async function withNative(value, f) {
  platform.verifyRsa = value;
  try {
    return await f();
  } finally {
    platform.verifyRsa = nodeVerifyRsa;
  }
}

// WebAssembly alone: no native RSA check, no WebCrypto.
const alone = (f) => withNative(null, () => withCrypto(undefined, f));

// A `crypto` whose subtle is the runtime's but for `verify`.
function withVerify(real, verify) {
  return {
    subtle: {
      sign: (...a) => real.sign(...a),
      importKey: (...a) => real.importKey(...a),
      verify,
    },
  };
}

// WebCrypto as the runtime has it, counting the verifications it answers.
function counted(real, counts) {
  return withVerify(real, async (...a) => {
    const ok = await real.verify(...a);
    counts[ok ? 'valid' : 'invalid'] += 1;
    return ok;
  });
}

test('node:crypto and WebCrypto verification give the verdicts of WebAssembly alone, on every public vector and tampered copies', { skip: !repo && 'WAXSEAL_REPO not set' }, async () => {
  assert.equal(typeof nodeVerifyRsa, 'function', 'the Node entry sets platform.verifyRsa');
  const real = globalThis.crypto.subtle;
  const counts = { valid: 0, invalid: 0 };
  const nodeCounts = { valid: 0, invalid: 0, left: 0 };
  const countedNode = (check) => {
    const ok = nodeVerifyRsa(check);
    nodeCounts[ok === null ? 'left' : ok ? 'valid' : 'invalid'] += 1;
    return ok;
  };
  let compared = 0;
  for (const row of rows()) {
    for (const message of [row.message, tampered(row.message)].filter(Boolean)) {
      const wasm = await alone(() => verify(message, row.options));
      const web = await withNative(null, () => withCrypto(counted(real, counts), () => verify(message, row.options)));
      assert.deepEqual(web, wasm, `${row.file}: WebCrypto`);
      const node = await withCrypto(undefined, () => withNative(countedNode, () => verify(message, row.options)));
      assert.deepEqual(node, wasm, `${row.file}: node:crypto`);
      compared += 1;
    }
  }
  assert.ok(compared > 200, `${compared} reports compared`);
  // each path decided real checks both ways (not a path that fell back)
  // (most of the Mail::DKIM corpus has keys under 1024 bits: WebAssembly)
  assert.ok(counts.valid >= 10 && counts.invalid >= 10, JSON.stringify(counts));
  assert.ok(nodeCounts.valid >= 10 && nodeCounts.invalid >= 10, JSON.stringify(nodeCounts));
  assert.deepEqual([nodeCounts.valid, nodeCounts.invalid], [counts.valid, counts.invalid]);
});

test('a native check that declines goes to WebCrypto; a WebCrypto that fails leaves the checks to WebAssembly', { skip: !repo && 'WAXSEAL_REPO not set' }, async () => {
  const real = globalThis.crypto.subtle;
  const failing = withVerify(real, async () => { throw new DOMException('refused', 'OperationError'); });
  let declined = 0;
  const declining = () => { declined += 1; return null; };
  for (const row of rows().filter((r) => /rfc|dkimpy/.test(r.file))) {
    const wasm = await alone(() => verify(row.message, row.options));
    const web = await withNative(null, () => withCrypto(failing, () => verify(row.message, row.options)));
    assert.deepEqual(web, wasm, row.file);
    const counts = { valid: 0, invalid: 0 };
    const both = await withNative(declining, () => withCrypto(counted(real, counts), () => verify(row.message, row.options)));
    assert.deepEqual(both, wasm, row.file);
    assert.equal(counts.valid + counts.invalid, declined, `${row.file}: WebCrypto answered what node:crypto declined`);
    declined = 0;
  }
});

test('the outcome the native check gives is the one the report takes', { skip: !repo && 'WAXSEAL_REPO not set' }, async () => {
  // checks that call every RSA signature valid: the tampered RFC 8463
  // message's RSA signature passes, its Ed25519 one (WebAssembly) not
  const real = globalThis.crypto.subtle;
  const lying = withVerify(real, async () => true);
  const row = rows().find((r) => r.file === 'rfc8463/a3-signed.eml');
  const message = tampered(row.message);
  const summary = (r) => r.results.map((x) => `${x.algorithm} ${x.result}`);
  assert.deepEqual(summary(await alone(() => verify(message, row.options))), ['ed25519-sha256 fail', 'rsa-sha256 fail']);
  assert.deepEqual(summary(await verify(message, row.options)), ['ed25519-sha256 fail', 'rsa-sha256 fail']);
  const lied = await withNative(null, () => withCrypto(lying, () => verify(message, row.options)));
  assert.deepEqual(summary(lied), ['ed25519-sha256 fail', 'rsa-sha256 pass']);
  const nodeLied = await withCrypto(undefined, () => withNative(() => true, () => verify(message, row.options)));
  assert.deepEqual(summary(nodeLied), ['ed25519-sha256 fail', 'rsa-sha256 pass']);
});
