// The npm package as a user gets it: `import ... from 'waxseal'`, installed
// from the packed tarball into a temporary project (wasm/test.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { createPublicKey } from 'node:crypto';
import {
  WaxsealError, generateKey, generateKeySync, dnsRecord, sign, signSync, signMessage,
  signMessageSync, Signer, verify,
} from 'waxseal';

const MSG = 'From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.net>\r\nSubject: dinner\r\n' +
  'Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n\r\nHi.\r\n\r\nAre you  hungry yet?\r\n';
const T = 1700000000;

const ed = await generateKey({ algorithm: 'ed25519' });
const rsa = await generateKey({ algorithm: 'rsa', bits: 2048 });

function resolverFor(pairs) {
  const map = new Map(pairs.map(([sel, key]) => [
    `${sel}._domainkey.example.com`, [dnsRecord(key, { selector: sel, domain: 'example.com' }).strings],
  ]));
  return async (name) => {
    if (map.has(name)) return map.get(name);
    const e = new Error(`queryTxt ENOTFOUND ${name}`);
    e.code = 'ENOTFOUND';
    throw e;
  };
}

test('generateKey gives PKCS#8 PEM and p= data', () => {
  assert.match(ed.privateKey, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(ed.algorithm, 'ed25519');
  assert.equal(ed.bits, 256);
  assert.equal(Buffer.from(ed.publicKey, 'base64').length, 32);
  assert.equal(rsa.algorithm, 'rsa');
  assert.equal(rsa.bits, 2048);
  const sync = generateKeySync({ algorithm: 'ed25519' });
  assert.notEqual(sync.privateKey, ed.privateKey);
  // the synchronous generator makes Ed25519 keys by default
  assert.equal(generateKeySync().algorithm, 'ed25519');
});

test('dnsRecord: name, 255-byte strings, zone line, readme', () => {
  const r = dnsRecord(rsa, { selector: 'sel', domain: 'example.com', testing: true });
  assert.equal(r.name, 'sel._domainkey.example.com');
  assert.match(r.value, /^v=DKIM1; k=rsa; t=y; p=MII/);
  assert.ok(r.strings.length >= 2 && r.strings.every((s) => s.length <= 255));
  assert.equal(r.strings.join(''), r.value);
  assert.match(r.zoneLine, /^sel\._domainkey\.example\.com\. IN TXT \( "/);
  assert.match(r.readme, /test mode \(t=y\)/);
  // from the public key alone, too
  assert.equal(dnsRecord(rsa.publicKey, { selector: 'sel', domain: 'example.com', testing: true }).value, r.value);
  assert.equal(dnsRecord(ed.publicKey, { selector: 's', domain: 'example.com', keyType: 'ed25519' }).value,
    `v=DKIM1; k=ed25519; p=${ed.publicKey}`);
  // from SubjectPublicKeyInfo PEM (what `openssl pkey -pubout` prints)
  for (const key of [ed, rsa]) {
    const spki = createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' });
    assert.equal(dnsRecord(spki, { selector: 's', domain: 'example.com' }).value,
      `v=DKIM1; k=${key.algorithm}; p=${key.publicKey}`);
  }
});

test('WebCrypto and WebAssembly sign the same bytes, and it verifies', async () => {
  for (const key of [ed, rsa]) {
    const o = { domain: 'example.com', selector: 's', privateKey: key.privateKey, timestamp: T };
    const a = await sign(MSG, o);
    assert.equal(a, signSync(MSG, o));
    assert.match(a, /^DKIM-Signature: v=1; a=(rsa|ed25519)-sha256; c=relaxed\/relaxed; d=example.com;/);
    const r = await verify(a + MSG, { resolveTxt: resolverFor([['s', key]]), now: T + 10 });
    assert.deepEqual(r.results.map((x) => x.result), ['pass']);
    assert.match(r.authenticationResults, /^localhost; dkim=pass header\.d=example\.com header\.s=s /);
  }
});

test('dual signature in one pass; signMessage keeps the type', async () => {
  const opts = [
    { domain: 'example.com', selector: 'ed', privateKey: ed, timestamp: T },
    { domain: 'example.com', selector: 'rsa', privateKey: rsa, timestamp: T },
  ];
  const signed = await signMessage(MSG, opts);
  assert.equal(typeof signed, 'string');
  assert.equal(signed.match(/^DKIM-Signature:/gm).length, 2);
  const bytes = signMessageSync(new TextEncoder().encode(MSG), opts);
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(bytes), signed);
  const r = await verify(bytes, { resolveTxt: resolverFor([['ed', ed], ['rsa', rsa]]), now: T });
  assert.deepEqual(r.results.map((x) => `${x.selector}:${x.result}`), ['ed:pass', 'rsa:pass']);
  assert.match(r.authenticationResultsField, /^Authentication-Results: localhost;\r\n\tdkim=pass /);
});

test('streaming Signer equals one call', async () => {
  const o = { domain: 'example.com', selector: 's', privateKey: ed.privateKey, timestamp: T };
  const s = new Signer(o);
  for (let i = 0; i < MSG.length; i += 7) s.update(MSG.slice(i, i + 7));
  assert.equal(await s.finish(), await sign(MSG, o));
  assert.throws(() => s.update('more'), (e) => e instanceof WaxsealError && e.code === 'ERR_STATE');
  // a string cut inside a surrogate pair (an emoji) signs as the whole string
  const emoji = MSG.replace('dinner', 'dinner \u{1F600}') + 'See you \u{1F37D}\uFE0F\r\n';
  for (const cut of [emoji.indexOf('\u{1F600}') + 1, emoji.length - 4]) {
    assert.ok(emoji.charCodeAt(cut - 1) >= 0xd800 && emoji.charCodeAt(cut - 1) <= 0xdbff);
    const parts = new Signer(o).update(emoji.slice(0, cut)).update(emoji.slice(cut));
    assert.equal(parts.finishSync(), signSync(emoji, o), `cut at ${cut}`);
  }
  // a lone high surrogate at the end or before bytes is U+FFFD, as in one string
  const lone = `${MSG}\uD83D`;
  assert.equal(new Signer(o).update(lone).finishSync(), signSync(lone, o));
  assert.equal(new Signer(o).update(lone).update(new TextEncoder().encode('x\r\n')).finishSync(),
    signSync(`${lone}x\r\n`, o));
});

test('options: expiresIn, headers, identity, canonicalization, no timestamp, LF message', async () => {
  const h = await sign(MSG, {
    domain: 'example.com', selector: 's', privateKey: ed, timestamp: T, expiresIn: 3600,
    headers: ['from', 'subject'], oversign: ['from'], identity: 'joe@mail.example.com',
    canonicalization: 'simple/simple',
  });
  assert.match(h, / t=1700000000; x=1700003600;/);
  assert.match(h, /h=from:from:subject;/);
  assert.match(h, /i=joe@mail\.example\.com;/);
  assert.match(h, /c=simple\/simple;/);
  assert.doesNotMatch(await sign(MSG, { domain: 'example.com', selector: 's', privateKey: ed, timestamp: false }), /t=/);
  const lf = MSG.replaceAll('\r\n', '\n');
  const lfHeader = await sign(lf, { domain: 'example.com', selector: 's', privateKey: ed, timestamp: T });
  assert.ok(!lfHeader.includes('\r'));
  const r = await verify(lfHeader + lf, { resolveTxt: resolverFor([['s', ed]]), now: T });
  assert.equal(r.results[0].result, 'pass');
});

test('verify: tampering, DNS failures, policy, unsigned', async () => {
  const o = { domain: 'example.com', selector: 's', privateKey: ed, timestamp: T };
  const signed = await signMessage(MSG, o);
  const resolveTxt = resolverFor([['s', ed]]);
  let r = await verify(signed.replace('hungry', 'angry'), { resolveTxt, now: T });
  assert.equal(r.results[0].result, 'fail');
  assert.equal(r.results[0].reasonCode, 'body_hash_mismatch');
  r = await verify(signed, { resolveTxt: async () => null, now: T });
  assert.equal(r.results[0].result, 'permerror');
  assert.equal(r.results[0].reasonCode, 'key_not_found');
  r = await verify(signed, { resolveTxt: async () => { throw Object.assign(new Error('timeout'), { code: 'ETIMEOUT' }); }, now: T });
  assert.equal(r.results[0].result, 'temperror');
  r = await verify(signed, { resolveTxt: async () => [['v=DKIM1; k=ed25519; p=']], now: T });
  assert.equal(r.results[0].reasonCode, 'key_revoked');
  r = await verify(signed, { resolveTxt, now: T - 3600 });
  assert.equal(r.results[0].result, 'policy');
  assert.equal(r.results[0].reasonCode, 'future_timestamp');
  r = await verify(signed, { resolveTxt, now: T - 3600, policy: { clockSkew: 7200 } });
  assert.equal(r.results[0].result, 'pass');
  // counts past 2^32 stay large in 32-bit WebAssembly, never wrap
  const rsaSigned = await signMessage(MSG, { domain: 'example.com', selector: 'r', privateKey: rsa, timestamp: T });
  const rsaTxt = resolverFor([['r', rsa]]);
  r = await verify(rsaSigned, { resolveTxt: rsaTxt, now: T, policy: { minRsaBits: 2 ** 32 + 512 } });
  assert.equal(r.results[0].reasonCode, 'key_too_small', 'a 2048-bit key is under 2^32 + 512 bits');
  r = await verify(rsaSigned, { resolveTxt: rsaTxt, now: T, policy: { maxSignatures: 2 ** 32, maxHeaderBytes: 2 ** 32 } });
  assert.equal(r.results[0].result, 'pass');
  r = await verify(MSG, { resolveTxt, now: T });
  assert.deepEqual(r.results, []);
  assert.equal(r.authenticationResults, 'localhost; dkim=none');
  // policy records are looked up only when asked for
  const asked = [];
  await verify(signed, { resolveTxt: async (n) => { asked.push(n); return resolveTxt(n); }, now: T, lookupPolicies: true });
  assert.deepEqual(asked.sort(), ['_dmarc.example.com', '_policy._domainkey.example.com', 's._domainkey.example.com']);
});

test('Node dns.promises.resolveTxt fits verify (NXDOMAIN on loopback-only machines)', async () => {
  const signed = await signMessage(MSG, { domain: 'nonexistent.invalid', selector: 's', privateKey: ed, timestamp: T });
  const r = await verify(signed, { resolveTxt: dns.promises.resolveTxt, now: T });
  assert.equal(r.results.length, 1);
  assert.ok(['permerror', 'temperror'].includes(r.results[0].result), r.results[0].summary);
});

test('errors are WaxsealError with stable codes', async () => {
  const cases = [
    [() => signSync(MSG, { domain: 'example.com', selector: 's', privateKey: 'not a key' }), 'ERR_INVALID_KEY'],
    [() => signSync('To: x@example.com\r\n\r\nbody', { domain: 'example.com', selector: 's', privateKey: ed }), 'ERR_MISSING_FROM'],
    [() => signSync('no header here\r\n\r\n', { domain: 'example.com', selector: 's', privateKey: ed }), 'ERR_MALFORMED_MESSAGE'],
    [() => signSync(MSG, { domain: 'exa mple.com', selector: 's', privateKey: ed }), 'ERR_INVALID_DOMAIN'],
    [() => signSync(MSG, { domain: 'example.com', selector: 's', privateKey: ed, identity: 'a@evilexample.com' }), 'ERR_INVALID_IDENTITY'],
    [() => signSync(MSG, { domain: 'example.com', selector: 's', privateKey: ed, canonicalization: 'fancy' }), 'ERR_UNSUPPORTED'],
    [() => signSync(MSG, { domain: 'example.com', selector: 's', privateKey: ed, colour: 'blue' }), 'ERR_INVALID_OPTION'],
    [() => signSync(MSG, { selector: 's', privateKey: ed }), 'ERR_INVALID_OPTION'],
    [() => signSync(42, { domain: 'example.com', selector: 's', privateKey: ed }), 'ERR_INVALID_OPTION'],
    [() => generateKeySync({ algorithm: 'dsa' }), 'ERR_INVALID_OPTION'],
    [() => generateKeySync({ algorithm: 'rsa', bits: 512 }), 'ERR_KEY_SIZE'],
    [() => generateKeySync({ algorithm: 'rsa' }), 'ERR_UNSUPPORTED'],
    [() => dnsRecord('garbage', { selector: 's', domain: 'example.com' }), 'ERR_INVALID_KEY'],
  ];
  for (const [fn, code] of cases) {
    assert.throws(fn, (e) => {
      assert.ok(e instanceof WaxsealError, `${code}: ${e}`);
      assert.ok(e instanceof Error);
      assert.equal(e.name, 'WaxsealError');
      assert.equal(e.code, code, e.message);
      return true;
    });
  }
  await assert.rejects(sign(MSG, { domain: 'example.com', selector: 's', privateKey: 'x' }), (e) => e.code === 'ERR_INVALID_KEY');
  await assert.rejects(verify(MSG, {}), (e) => e.code === 'ERR_INVALID_OPTION');
  const resolveTxt = async () => null;
  await assert.rejects(verify(MSG, { resolveTxt, polcy: {} }), (e) => e.code === 'ERR_INVALID_OPTION' && /polcy/.test(e.message));
  await assert.rejects(verify(MSG, { resolveTxt, policy: { minRSABits: 2048 } }), (e) => e.code === 'ERR_INVALID_OPTION' && /minRSABits/.test(e.message));
  await assert.rejects(verify(MSG, { resolveTxt, policy: null }), (e) => e.code === 'ERR_INVALID_OPTION');
  const signed = await signMessage(MSG, { domain: 'example.com', selector: 's', privateKey: ed });
  await assert.rejects(verify(signed, { resolveTxt: async () => 'not records' }), (e) => e.code === 'ERR_INVALID_OPTION');
});

test('verify: an over-large header block is a permerror result, as on every face', async () => {
  const signed = await signMessage(MSG, { domain: 'example.com', selector: 'ed', privateKey: ed, timestamp: T });
  const r = await verify(signed, { resolveTxt: resolverFor([['ed', ed]]), now: T + 60, policy: { maxHeaderBytes: 100 } });
  assert.equal(r.results.length, 1);
  assert.equal(r.results[0].result, 'permerror');
  assert.equal(r.results[0].reasonCode, 'header_too_large');
  assert.match(r.authenticationResults, /dkim=permerror/);
  const ok = await verify(signed, { resolveTxt: resolverFor([['ed', ed]]), now: T + 60 });
  assert.equal(ok.results[0].result, 'pass');
});

test('verify with diagnostics: what was hashed, for explaining a failure', async () => {
  const signed = await signMessage(MSG, { domain: 'example.com', selector: 'ed', privateKey: ed, timestamp: T });
  const changed = signed.replace('Hi.', 'Hello.');
  const r = await verify(changed, { resolveTxt: resolverFor([['ed', ed]]), now: T + 60, diagnostics: true });
  const s = r.results[0];
  assert.equal(s.reasonCode, 'body_hash_mismatch');
  assert.equal(s.canonicalization, 'relaxed/relaxed');
  assert.ok(s.signedHeaders.includes('from'));
  assert.notEqual(s.diagnostics.computedBodyHash, s.bodyHash);
  // relaxed: runs of white space are one space
  assert.equal(new TextDecoder().decode(s.diagnostics.canonicalBody), 'Hello.\r\n\r\nAre you hungry yet?\r\n');
  assert.match(new TextDecoder().decode(s.diagnostics.canonicalHeaders), /^from:Joe <joe@example.com>\r\n/);
  await assert.rejects(
    verify(signed, { resolveTxt: resolverFor([]), diagnostics: 'yes' }),
    (e) => e instanceof WaxsealError && e.code === 'ERR_INVALID_OPTION',
  );
});

test('verify a stream: every chunking gives the same report; lookups start at the end of the header block', async () => {
  const signed = new TextEncoder().encode(await signMessage(
    MSG, [{ domain: 'example.com', selector: 'ed', privateKey: ed, timestamp: T },
      { domain: 'example.com', selector: 'rsa', privateKey: rsa, timestamp: T }]));
  const resolveTxt = resolverFor([['ed', ed], ['rsa', rsa]]);
  const whole = await verify(signed, { resolveTxt, now: T });
  assert.deepEqual(whole.results.map((r) => r.result), ['pass', 'pass']);
  const headerEnd = Buffer.from(signed).indexOf('\r\n\r\n') + 4;
  for (const size of [1, 7, 64, headerEnd, signed.length]) {
    const chunks = [];
    for (let i = 0; i < signed.length; i += size) chunks.push(signed.slice(i, i + size));
    // a ReadableStream (fetch bodies, Cloudflare's message.raw) that records
    // how far it was read when each lookup was asked for
    let read = 0;
    const asked = [];
    const stream = new ReadableStream({
      pull(c) {
        if (chunks.length === 0) return c.close();
        const chunk = chunks.shift();
        read += chunk.length;
        c.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    const r = await verify(stream, { resolveTxt: (n) => { asked.push([n, read]); return resolveTxt(n); }, now: T });
    assert.deepEqual(r, whole, `chunks of ${size}`);
    assert.deepEqual(asked.map(([n]) => n).sort(), ['ed._domainkey.example.com', 'rsa._domainkey.example.com']);
    // asked as soon as the chunk that ends the header block was in, before the body
    for (const [, at] of asked) assert.equal(at, Math.min(Math.ceil(headerEnd / size) * size, signed.length), `chunks of ${size}`);
  }
  // an async iterable of chunks (a Node stream), with a body byte changed
  const tampered = Buffer.from(signed);
  tampered[tampered.length - 3] ^= 1;
  const { Readable } = await import('node:stream');
  const r = await verify(Readable.from([tampered.subarray(0, 100), tampered.subarray(100)]), { resolveTxt, now: T });
  assert.deepEqual(r.results.map((x) => x.reasonCode), ['body_hash_mismatch', 'body_hash_mismatch']);
  // string chunks cut inside a surrogate pair verify as the whole string
  const emoji = await signMessage(`${MSG}\u{1F600}\r\n`, { domain: 'example.com', selector: 'ed', privateKey: ed, timestamp: T });
  const cut = emoji.indexOf('\u{1F600}') + 1;
  const e = await verify(Readable.from([emoji.slice(0, cut), emoji.slice(cut)]), { resolveTxt, now: T });
  assert.equal(e.results[0].result, 'pass');
  // with diagnostics, too
  const d = await verify(Readable.from([signed]), { resolveTxt, now: T, diagnostics: true });
  assert.equal(new TextDecoder().decode(d.results[0].diagnostics.canonicalBody), 'Hi.\r\n\r\nAre you hungry yet?\r\n');
});

test('verify a stream: a failing stream is ERR_STREAM, a malformed one stops reading', async () => {
  const resolveTxt = resolverFor([['ed', ed]]);
  const failing = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode('From: a@example.com\r\n'));
      c.error(new Error('connection reset'));
    },
  });
  await assert.rejects(verify(failing, { resolveTxt }),
    (e) => e instanceof WaxsealError && e.code === 'ERR_STREAM' && /connection reset/.test(e.message));
  // a header block that is not one, then a body that never ends: the error
  // comes at the end of the header block, and the rest is not read
  let cancelled = false;
  let first = true;
  const malformed = new ReadableStream({
    pull(c) {
      c.enqueue(new TextEncoder().encode(first ? 'no colon in this header line\r\n\r\n' : 'body line\r\n'));
      first = false;
    },
    cancel() { cancelled = true; },
  });
  await assert.rejects(verify(malformed, { resolveTxt }), (e) => e instanceof WaxsealError && e.code === 'ERR_MALFORMED_MESSAGE');
  assert.ok(cancelled, 'the rest of the stream is cancelled');
  await assert.rejects(verify((async function* () { yield 42; })(), { resolveTxt }),
    (e) => e instanceof WaxsealError && e.code === 'ERR_INVALID_OPTION');
});

test('a large message given whole goes into WebAssembly in pieces: its memory does not grow by the message', async () => {
  // the module's exports, from the copy the package's entry initialized
  const { initSync } = await import(new URL('./wasm/waxseal_wasm.js', import.meta.resolve('waxseal')).href);
  const { memory } = initSync({ module: new Uint8Array() });
  const opts = { domain: 'example.com', selector: 'ed', privateKey: ed, timestamp: T };
  const resolveTxt = resolverFor([['ed', ed]]);
  // warm: what any message makes the module allocate
  await verify(await signMessage(MSG, opts), { resolveTxt, now: T + 1 });
  const before = memory.buffer.byteLength;
  const big = Buffer.concat([Buffer.from(MSG), Buffer.alloc(48 << 20, 'Lunch?\r\n')]);
  const signed = await signMessage(big, opts);
  const whole = await verify(signed, { resolveTxt, now: T + 1 });
  assert.equal(whole.results[0].result, 'pass', whole.results[0].summary);
  // a stream whose one chunk is the whole message, and the Signer likewise
  const once = (async function* () { yield signed; })();
  assert.equal((await verify(once, { resolveTxt, now: T + 1 })).results[0].result, 'pass');
  const header = await new Signer(opts).update(big).finish();
  const again = await verify(Buffer.concat([Buffer.from(header), big]), { resolveTxt, now: T + 1 });
  assert.equal(again.results[0].result, 'pass');
  const grown = memory.buffer.byteLength - before;
  assert.ok(grown < 8 << 20, `WebAssembly memory grew by ${grown} bytes for a 48 MB message`);
});
