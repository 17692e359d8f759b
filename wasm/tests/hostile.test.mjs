// Hostile callers (issue 17, items 1 and 6): caller data that throws or
// lies must be rejected with a WaxsealError and a code, and must never
// reach the WebAssembly module, where an exception unwinding through its
// frames used to leave the stack pointer moved and Rust values unfreed
// (after a few thousand calls every later call failed with "memory access
// out of bounds"). After 10,000 such calls, normal signing and
// verification still work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WaxsealError, generateKey, generateKeySync, dnsRecord, sign, signSync, signMessageSync,
  Signer, verify,
} from 'waxseal';

const MSG = 'From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.net>\r\nSubject: dinner\r\n'
  + 'Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n\r\nHi.\r\n';
const T = 1700000000;
const ed = generateKeySync({ algorithm: 'ed25519' });
const record = dnsRecord(ed, { selector: 's', domain: 'example.com' }).strings;
const goodResolver = async (name) => {
  if (name === 's._domainkey.example.com') return [record];
  throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
};
const opts = { domain: 'example.com', selector: 's', privateKey: ed.privateKey, timestamp: T };
const signed = signMessageSync(MSG, opts);

const boom = () => {
  throw new Error('boom');
};
const throwing = (target, key) => Object.defineProperty({ ...target }, key, { get: boom, enumerable: true });
const trap = (target) => new Proxy(target, { get: boom, has: boom, ownKeys: boom, getPrototypeOf: boom });

// Each case: a call that must reject (or throw) with a WaxsealError.
const cases = {
  'sign: a throwing domain getter': () => signSync(MSG, throwing(opts, 'domain')),
  'sign: a throwing privateKey getter': () => signSync(MSG, throwing(opts, 'privateKey')),
  'sign: headers, an array whose element getter throws': () => signSync(MSG, {
    ...opts, headers: Object.defineProperty(['from', 'to'], 1, { get: boom }),
  }),
  'sign: headers, a proxy': () => signSync(MSG, { ...opts, headers: trap(['from']) }),
  'sign: oversign, a proxy': () => signSync(MSG, { ...opts, oversign: trap([]) }),
  'sign: options, a proxy': () => signSync(MSG, trap(opts)),
  'sign: a list of options, a proxy': () => signSync(MSG, trap([opts])),
  'sign: a message, a proxy of bytes': () => signSync(trap(new TextEncoder().encode(MSG)), opts),
  'sign: timestamp not a number': () => signSync(MSG, { ...opts, timestamp: 'abc' }),
  'sign (WebCrypto): a throwing getter': () => sign(MSG, throwing(opts, 'selector')),
  'Signer.update: a proxy chunk': () => new Signer(opts).update(trap(new Uint8Array(4))),
  'generateKey: a throwing getter': () => generateKeySync(throwing({ algorithm: 'ed25519' }, 'algorithm')),
  'generateKey (WebCrypto): options, a proxy': () => generateKey(trap({})),
  'dnsRecord: a throwing option': () => dnsRecord(ed, throwing({ selector: 's', domain: 'example.com' }, 'domain')),
  'dnsRecord: options, a proxy': () => dnsRecord(ed, trap({})),
  'dnsRecord: a key, a proxy': () => dnsRecord(trap(ed), { selector: 's', domain: 'example.com' }),
  'verify: resolveTxt answers an array whose element getter throws': () => verify(signed, {
    now: T, resolveTxt: async () => Object.defineProperty([record], 0, { get: boom }),
  }),
  'verify: resolveTxt answers a record whose string getter throws': () => verify(signed, {
    now: T, resolveTxt: async () => [Object.defineProperty(['v=DKIM1'], 0, { get: boom })],
  }),
  'verify: resolveTxt answers a proxy': () => verify(signed, {
    now: T,
    resolveTxt: async () => new Proxy([record], { get: (t, k) => (k === 'then' ? undefined : boom()) }),
  }),
  'verify: resolveTxt answers a number': () => verify(signed, { now: T, resolveTxt: async () => [[42]] }),
  'verify: a throwing policy getter': () => verify(signed, {
    now: T, resolveTxt: goodResolver, policy: throwing({}, 'minRsaBits'),
  }),
  'verify: policy, a proxy': () => verify(signed, { now: T, resolveTxt: goodResolver, policy: trap({}) }),
  'verify: options, a proxy': () => verify(signed, trap({ now: T, resolveTxt: goodResolver })),
  'verify: a message, a proxy of bytes': () => verify(trap(new TextEncoder().encode(signed)), {
    now: T, resolveTxt: goodResolver,
  }),
  'verify: now is a string': () => verify(signed, { now: 'abc', resolveTxt: goodResolver }),
  'verify: now is negative': () => verify(signed, { now: -5, resolveTxt: goodResolver }),
  'verify: now is null': () => verify(signed, { now: null, resolveTxt: goodResolver }),
  'verify: now is a fraction': () => verify(signed, { now: 1.5, resolveTxt: goodResolver }),
  'verify: lookupTimeout is zero': () => verify(signed, { now: T, resolveTxt: goodResolver, lookupTimeout: 0 }),
  'verify: a stream whose chunk is a proxy': () => verify((async function* chunks() {
    yield trap(new Uint8Array(3));
  }()), { now: T, resolveTxt: goodResolver }),
};

async function outcome(f) {
  try {
    await f();
    return null;
  } catch (e) {
    return e;
  }
}

const nastyError = Object.defineProperty(new Error('nasty'), 'code', { get: boom });

test('every hostile input is a WaxsealError with a code', async () => {
  for (const [name, f] of Object.entries(cases)) {
    const e = await outcome(f);
    assert.ok(e instanceof WaxsealError, `${name}: ${e && e.stack}`);
    assert.match(e.code, /^ERR_[A-Z_]+$/, name);
    assert.notEqual(e.code, 'ERR_INTERNAL', `${name}: ${e.message}`);
  }
  // a resolver whose promise cannot even be awaited (a proxy trapping
  // `then`), or that throws an error whose `code` getter throws, failed:
  // the lookup is a temporary failure, never an unhandled exception
  for (const resolveTxt of [async () => { throw nastyError; }, async () => trap([record])]) {
    const r = await verify(signed, { now: T, resolveTxt });
    assert.equal(r.results[0].result, 'temperror');
  }
});

test('10,000 hostile calls leave the module working', async () => {
  const list = Object.entries(cases);
  for (let i = 0; i < 10000; i++) {
    const [name, f] = list[i % list.length];
    const e = await outcome(f);
    if (!(e instanceof WaxsealError) || e.code === 'ERR_INTERNAL') {
      assert.fail(`call ${i}, ${name}: ${e && e.stack}`);
    }
  }
  // everything still works
  assert.equal(signSync(MSG, opts), new Signer(opts).update(MSG).finishSync());
  assert.equal(await sign(MSG, opts), signSync(MSG, opts));
  const r = await verify(signed, { now: T, resolveTxt: goodResolver });
  assert.equal(r.results[0].result, 'pass');
  assert.equal(generateKeySync().algorithm, 'ed25519');
  assert.match(dnsRecord(ed, { selector: 's', domain: 'example.com' }).value, /^v=DKIM1; k=ed25519; p=/);
});

test('verify: a resolveTxt that never settles times out as a temporary failure', async () => {
  const started = Date.now();
  const r = await verify(signed, { now: T, resolveTxt: () => new Promise(() => {}), lookupTimeout: 200 });
  assert.equal(r.results[0].result, 'temperror');
  assert.ok(Date.now() - started < 5000);
});

test('verify: `now` is validated as sign validates `timestamp`', async () => {
  for (const now of ['abc', -5, null, 1.5, Infinity, NaN, 2 ** 64]) {
    const e = await outcome(() => verify(signed, { now, resolveTxt: goodResolver }));
    assert.ok(e instanceof WaxsealError && e.code === 'ERR_INVALID_OPTION', `now=${now}: ${e}`);
  }
  for (const timestamp of ['abc', -5, 1.5, Infinity]) {
    const e = await outcome(() => signSync(MSG, { ...opts, timestamp }));
    assert.ok(e instanceof WaxsealError && e.code === 'ERR_INVALID_OPTION', `timestamp=${timestamp}: ${e}`);
  }
  assert.equal((await verify(signed, { now: T, resolveTxt: goodResolver })).results[0].result, 'pass');
});

test('absent MIME fields are protected: Content-Type added to a plain message fails', async () => {
  const added = `MIME-Version: 1.0\r\nContent-Type: text/html\r\n${signed}`;
  const r = await verify(added, { now: T, resolveTxt: goodResolver });
  assert.equal(r.results[0].result, 'fail');
  assert.match(signed, /h=[^;]*content-type/);
});

test('a typed array with redefined accessors is read by its real bytes', () => {
  const bytes = new TextEncoder().encode(MSG);
  for (const k of ['length', 'byteLength', 'byteOffset', 'buffer']) {
    const lying = Object.defineProperty(new TextEncoder().encode(MSG), k, { get: boom });
    assert.equal(signSync(lying, opts), signSync(bytes, opts), k);
  }
  const view = new DataView(bytes.buffer);
  assert.equal(signSync(view, opts), signSync(bytes, opts));
});

// Issue 17, item 7: the package and the command agree on a public key
// given as the private key, a DER key as bytes, and an empty message.
test('the CLI and the package agree: public key, DER bytes, empty message', async () => {
  const { createPrivateKey, createPublicKey } = await import('node:crypto');
  const publicPem = createPublicKey(ed.privateKey).export({ type: 'spki', format: 'pem' });
  for (const f of [() => signSync(MSG, { ...opts, privateKey: publicPem }), () => sign(MSG, { ...opts, privateKey: publicPem })]) {
    const e = await outcome(f);
    assert.ok(e instanceof WaxsealError && e.code === 'ERR_INVALID_KEY', String(e));
    assert.match(e.message, /this is a public key; signing needs the private key/);
  }
  const der = new Uint8Array(createPrivateKey(ed.privateKey).export({ type: 'pkcs8', format: 'der' }));
  assert.equal(signSync(MSG, { ...opts, privateKey: der }), signSync(MSG, opts));
  assert.equal(await sign(MSG, { ...opts, privateKey: der }), signSync(MSG, opts));
  const want = dnsRecord(ed, { selector: 's', domain: 'example.com' }).value;
  assert.equal(dnsRecord(der, { selector: 's', domain: 'example.com' }).value, want);
  assert.equal(dnsRecord(publicPem, { selector: 's', domain: 'example.com' }).value, want);
  for (const empty of ['', new Uint8Array(0)]) {
    for (const f of [() => signSync(empty, opts), () => verify(empty, { now: T, resolveTxt: goodResolver })]) {
      const e = await outcome(f);
      assert.ok(e instanceof WaxsealError && e.code === 'ERR_MALFORMED_MESSAGE', String(e));
      assert.equal(e.message, 'the message is empty');
    }
  }
});

test('options inherited (Object.create, class getters) are read as before', async () => {
  class Opts {
    get domain() { return 'example.com'; }

    get selector() { return 's'; }
  }
  const viaClass = Object.assign(new Opts(), { privateKey: ed.privateKey, timestamp: T });
  assert.equal(signSync(MSG, viaClass), signSync(MSG, opts));
  assert.equal(signSync(MSG, Object.create(opts)), signSync(MSG, opts));
  const r = await verify(signed, Object.create({ now: T, resolveTxt: goodResolver }));
  assert.equal(r.results[0].result, 'pass');
});
