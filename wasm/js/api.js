// waxseal's JavaScript API, over the WebAssembly core (wasm/waxseal_wasm.js,
// initialized by the runtime's entry: node.js, browser.js or workerd.js).
//
// Messages are Uint8Array or string (a string is encoded as UTF-8; pass bytes
// for messages that are not UTF-8). Errors are WaxsealError with a stable
// `code`. The private-key operation runs on WebCrypto (crypto.subtle) when the
// runtime has it (the async functions); the *Sync functions sign in
// WebAssembly. Both give the same bytes: RSASSA-PKCS1-v1_5 and Ed25519 are
// deterministic. `verify` checks RSA signatures natively too (node:crypto
// in Node, else WebCrypto), and Ed25519 ones in WebAssembly (the core's
// strict checks).

import * as raw from './wasm/waxseal_wasm.js';
import { WaxsealError, call, invalid } from './errors.js';
import { platform, remember } from './platform.js';
import {
  bytesOf, checkKeys, encoder, keyMaterial, notFoundError, optBool, optCount, optString, optStrings,
  ChunkText, plain, plainRecords, reading, toBytes,
} from './input.js';

export { WaxsealError };

function now() {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------- WebCrypto

function subtle() {
  const c = globalThis.crypto;
  return c && c.subtle && typeof c.subtle.sign === 'function' ? c.subtle : null;
}

// Imported CryptoKeys, by PEM text (importing an RSA key costs more than
// signing with it). Bounded, oldest out first.
const imported = new Map();
const IMPORTED_MAX = 32;

function importKey(s, id, info) {
  return remember(imported, id, IMPORTED_MAX, () => {
    const algorithm = info.algorithm === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
      : { name: 'Ed25519' };
    // null: this runtime cannot use the key (then WebAssembly signs)
    return s.importKey('pkcs8', info.pkcs8, algorithm, false, ['sign']).catch(() => null);
  });
}

async function subtleSign(s, cryptoKey, data) {
  const name = cryptoKey.algorithm.name;
  try {
    return new Uint8Array(await s.sign(name === 'Ed25519' ? { name } : name, cryptoKey, data));
  } catch (e) {
    throw new WaxsealError('ERR_CRYPTO', `WebCrypto could not sign: ${e && e.message}`, { cause: e });
  }
}

// The outcomes of the verifier's RSA checks (`finishPending`), in order:
// true or false, or null where WebAssembly is to decide.
async function rsaOutcomes(checks) {
  const native = platform.verifyRsa;
  const outcomes = checks.map((c) => (c && native ? native(c) : null));
  const s = checks.some((c, i) => c && outcomes[i] === null) ? subtle() : null;
  return s ? Promise.all(checks.map((c, i) => outcomes[i] ?? subtleVerify(s, c))) : outcomes;
}

// Public keys imported for verification, by algorithm and key (the same
// few keys sign most mail a receiver sees). Bounded, oldest out first.
const verifying = new Map();

// The outcome of one RSA check of the verifier's (true or false), or null
// to leave it to WebAssembly: a check the verifier keeps (null: Ed25519,
// small RSA keys), or a key or signature WebCrypto refuses.
const VERIFY_HASHES = { 'rsa-sha256': 'SHA-256', 'rsa-sha1': 'SHA-1' };

async function subtleVerify(s, check) {
  const hash = check && VERIFY_HASHES[check.algorithm];
  if (!hash) return null;
  const key = await remember(verifying, check.keyId, IMPORTED_MAX, () =>
    s.importKey('spki', check.key, { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['verify'])
      .catch(() => null));
  if (!key) return null;
  try {
    return await s.verify('RSASSA-PKCS1-v1_5', key, check.signature, check.data);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- keys

/**
 * Generates a key pair: `{ privateKey, publicKey, algorithm, bits }` with the
 * private key as PKCS#8 PEM and the public key as the base64 `p=` data.
 * RSA keys come from WebCrypto when available (fast), else WebAssembly.
 */
const KEY_OPTIONS = ['algorithm', 'bits'];

export async function generateKey(options = {}) {
  const { algorithm = 'rsa', bits = 2048 } = plain(options, 'options', KEY_OPTIONS);
  checkKeyOptions(algorithm, bits);
  const s = subtle();
  if (algorithm === 'rsa' && s) {
    try {
      const pair = await s.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        true,
        ['sign', 'verify'],
      );
      const der = new Uint8Array(await s.exportKey('pkcs8', pair.privateKey));
      return pairFrom(pem(der));
    } catch (e) {
      throw new WaxsealError('ERR_KEY_GENERATION', `WebCrypto could not generate the RSA key: ${e && e.message}`, { cause: e });
    }
  }
  if (algorithm === 'rsa') {
    throw new WaxsealError('ERR_UNSUPPORTED', 'RSA key generation needs WebCrypto (crypto.subtle), which this runtime lacks');
  }
  return generateKeySync(options);
}

/**
 * Generates a key pair in WebAssembly. Ed25519 only: the package leaves RSA
 * key generation to WebCrypto (`generateKey`), which every supported runtime
 * has, to stay small.
 */
export function generateKeySync(options = {}) {
  const { algorithm = 'ed25519', bits = 2048 } = plain(options, 'options', KEY_OPTIONS);
  checkKeyOptions(algorithm, bits);
  if (algorithm === 'rsa') {
    throw new WaxsealError('ERR_UNSUPPORTED', 'RSA keys are generated with WebCrypto: use generateKey()');
  }
  return call(() => raw.generateKey(algorithm, undefined));
}

function checkKeyOptions(algorithm, bits) {
  if (algorithm !== 'rsa' && algorithm !== 'ed25519') {
    throw invalid("algorithm must be 'rsa' or 'ed25519'");
  }
  if (algorithm === 'rsa' && (!Number.isInteger(bits) || bits < 1024 || bits > 4096 || bits % 8)) {
    throw new WaxsealError('ERR_KEY_SIZE', 'RSA keys must have 1024 to 4096 bits (a multiple of 8)');
  }
}

function pem(der) {
  let b64 = '';
  for (let i = 0; i < der.length; i += 0x8000) {
    b64 += String.fromCharCode(...der.subarray(i, i + 0x8000));
  }
  b64 = btoa(b64).replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64.replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

// Parsed keys (raw.Key, in WebAssembly memory) by key material: parsing an
// RSA key costs more than signing with it. Bounded; evicted keys are freed.
const parsed = new Map();
const PARSED_MAX = 32;

function parsedKey(material) {
  let k = parsed.get(material.id);
  if (!k) {
    const key = call(() => new raw.Key(material.data));
    k = { key, info: call(() => key.info()) };
    parsed.set(material.id, k);
    if (parsed.size > PARSED_MAX) {
      const [oldest, entry] = parsed.entries().next().value;
      parsed.delete(oldest);
      entry.key.free();
    }
  }
  return k;
}

function pairFrom(privateKeyPem) {
  const info = call(() => raw.keyInfo(encoder.encode(privateKeyPem)));
  return { privateKey: info.privateKey, publicKey: info.publicKey, algorithm: info.algorithm, bits: info.bits };
}

const RECORD_KEYS = new Set(['selector', 'domain', 'keyType', 'testing', 'strict', 'notes']);

/**
 * The DNS TXT record to publish for a key: `{ name, value, strings,
 * zoneLine, readme }`. `key`: a key pair, a private or public key (PEM
 * text, or PEM or DER bytes), or base64 `p=` data (with `keyType`).
 */
export function dnsRecord(key, options) {
  if (!options || typeof options !== 'object') throw invalid('options { selector, domain } are required');
  const given = plain(options, 'options', RECORD_KEYS);
  checkKeys(given, RECORD_KEYS, 'option');
  let text;
  let keyType = optString(given, 'keyType');
  if (typeof key === 'string' || bytesOf(key)) {
    text = keyMaterial(key, 'key').data;
  } else if (key && typeof key === 'object') {
    // a key pair, or a public key alone `{ publicKey, algorithm? }`
    const pair = plain(key, 'key', ['privateKey', 'publicKey', 'algorithm']);
    const pub = pair.publicKey;
    text = typeof pair.privateKey === 'string' ? pair.privateKey : pub;
    if (typeof text !== 'string') throw invalid('key must be a PEM string, p= data or a key pair from generateKey()');
    text = encoder.encode(text);
    if (keyType === undefined && typeof pair.algorithm === 'string') keyType = pair.algorithm;
  } else {
    throw invalid('key must be a PEM string, p= data or a key pair from generateKey()');
  }
  const o = Object.create(null);
  o.selector = optString(given, 'selector');
  o.domain = optString(given, 'domain');
  o.keyType = keyType;
  o.testing = optBool(given, 'testing');
  o.strict = optBool(given, 'strict');
  o.notes = optString(given, 'notes');
  return call(() => raw.dnsRecord(text, o));
}

// ---------------------------------------------------------------- signing

const SIGN_KEYS = new Set([
  'domain', 'selector', 'privateKey', 'identity', 'headers', 'oversign', 'canonicalization',
  'timestamp', 'expiration', 'expiresIn', 'bodyLength', 'copyHeaders',
]);

function normalize(options) {
  const list = reading('the signing options', () => {
    if (!Array.isArray(options)) return [options];
    const out = [];
    for (let i = 0; i < options.length; i++) out.push(options[i]);
    return out;
  });
  if (list.length === 0) throw invalid('at least one set of signing options is required');
  return list.map((given) => {
    if (!given || typeof given !== 'object') throw invalid('signing options must be an object');
    const o = plain(given, 'the signing options', SIGN_KEYS);
    checkKeys(o, SIGN_KEYS, 'signing option');
    const material = keyMaterial(o.privateKey);
    const { info } = parsedKey(material);
    let timestamp = o.timestamp === undefined ? now() : o.timestamp;
    if (timestamp === false || timestamp === null) timestamp = undefined;
    else timestamp = optCount({ timestamp }, 'timestamp');
    let expiration = optCount(o, 'expiration');
    if (o.expiresIn !== undefined) {
      if (!Number.isSafeInteger(o.expiresIn) || o.expiresIn <= 0) throw invalid('expiresIn must be a positive number of seconds');
      expiration = (timestamp ?? now()) + o.expiresIn;
    }
    const spec = Object.create(null);
    Object.assign(spec, {
      domain: optString(o, 'domain'),
      selector: optString(o, 'selector'),
      identity: optString(o, 'identity'),
      headers: optStrings(o, 'headers'),
      oversign: optStrings(o, 'oversign'),
      canonicalization: optString(o, 'canonicalization'),
      timestamp,
      expiration,
      bodyLength: optBool(o, 'bodyLength'),
      copyHeaders: optBool(o, 'copyHeaders'),
      signingAlgorithm: info.signingAlgorithm,
    });
    return { material, info, spec };
  });
}

// What goes into WebAssembly at a time. The core streams (the body is
// never held), but a chunk handed over whole is first copied into
// WebAssembly's memory, which grows to hold it and never shrinks: a 100 MB
// message given whole would leave the module 100 MB larger for good.
const FEED = 1 << 20;

function* pieces(bytes) {
  if (bytes.length <= FEED) {
    yield bytes;
    return;
  }
  for (let i = 0; i < bytes.length; i += FEED) yield bytes.subarray(i, i + FEED);
}

/**
 * A streaming signer: `update(chunk)` any number of times, then `finish()`
 * (WebCrypto) or `finishSync()` (WebAssembly); both return the
 * DKIM-Signature header field(s) to put on top of the message.
 */
export class Signer {
  #list;
  #raw;
  #text = new ChunkText();

  constructor(options) {
    this.#list = normalize(options);
    this.#raw = call(() => new raw.Signer(this.#list.map((l) => l.spec)));
  }

  update(chunk) {
    if (!this.#raw) throw new WaxsealError('ERR_STATE', 'the signer is finished');
    for (const bytes of this.#text.bytes(chunk, 'chunk')) {
      for (const piece of pieces(bytes)) call(() => this.#raw.update(piece));
    }
    return this;
  }

  async finish() {
    const r = this.#take();
    try {
      const pending = call(() => r.finishPending());
      const s = subtle();
      const sigs = await Promise.all(pending.map(async (p, i) => {
        const { material, info } = this.#list[i];
        const key = s ? await importKey(s, material.id, info) : null;
        return key ? subtleSign(s, key, p.data) : call(() => parsedKey(material).key.signData(p.data));
      }));
      return call(() => r.complete(sigs));
    } finally {
      r.free();
    }
  }

  finishSync() {
    const r = this.#take();
    try {
      const pending = call(() => r.finishPending());
      const sigs = pending.map((p, i) => call(() => parsedKey(this.#list[i].material).key.signData(p.data)));
      return call(() => r.complete(sigs));
    } finally {
      r.free();
    }
  }

  #take() {
    const r = this.#raw;
    if (!r) throw new WaxsealError('ERR_STATE', 'the signer is finished');
    this.#raw = undefined;
    for (const bytes of this.#text.end()) call(() => r.update(bytes));
    return r;
  }
}

/**
 * Signs a message; resolves to the DKIM-Signature header field(s).
 * `options` (or an array of them, for several signatures in one pass):
 * `{ domain, selector, privateKey, identity?, headers?, oversign?,
 * canonicalization?, timestamp?, expiresIn?, expiration?, bodyLength?,
 * copyHeaders? }`.
 */
export async function sign(message, options) {
  const bytes = toBytes(message);
  return new Signer(options).update(bytes).finish();
}

/** Like `sign`, signing in WebAssembly, synchronously. */
export function signSync(message, options) {
  const bytes = toBytes(message);
  return new Signer(options).update(bytes).finishSync();
}

function prepend(message, header) {
  if (typeof message === 'string') return header + message;
  const h = encoder.encode(header);
  const bytes = toBytes(message);
  const out = new Uint8Array(h.length + bytes.length);
  out.set(h);
  out.set(bytes, h.length);
  return out;
}

/** Signs a message and returns it with the signature(s) on top, in the type it was given. */
export async function signMessage(message, options) {
  return prepend(message, await sign(message, options));
}

/** Like `signMessage`, synchronously, in WebAssembly. */
export function signMessageSync(message, options) {
  return prepend(message, signSync(message, options));
}

// ---------------------------------------------------------------- verifying

const VERIFY_KEYS = new Set([
  'resolveTxt', 'now', 'policy', 'authservId', 'lookupPolicies', 'diagnostics', 'lookupTimeout',
]);
const POLICY_FLAGS = ['allowRsaSha1', 'allowUnsignedBodyTail', 'allowUnsignedFrom', 'allowFromCount', 'ignoreExpiration'];
const POLICY_COUNTS = ['minRsaBits', 'clockSkew', 'maxSignatures', 'maxHeaderBytes'];

/** How long one `resolveTxt` call may take, in milliseconds, by default. */
export const DEFAULT_LOOKUP_TIMEOUT = 5000;
const POLICY_KEYS = new Set([
  'minRsaBits', 'allowRsaSha1', 'allowUnsignedBodyTail', 'allowUnsignedFrom', 'allowFromCount',
  'ignoreExpiration',
  'clockSkew', 'maxSignatures', 'maxHeaderBytes',
]);

// A message given as a stream: a ReadableStream (fetch bodies, Cloudflare's
// `message.raw`) or an async iterable of chunks (Node streams); null for a
// whole message.
function chunksOf(message) {
  if (message && typeof message === 'object' && !bytesOf(message)) {
    return reading('the message stream', () => {
      if (typeof message.getReader === 'function') return readChunks(message);
      if (typeof message[Symbol.asyncIterator] === 'function') return message;
      return null;
    });
  }
  return null;
}

async function* readChunks(stream) {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // stopped early (a malformed header block): the rest is not needed
    if (!done) reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * Verifies every DKIM signature of a message. `message` is the whole
 * message (Uint8Array or string) or a stream of it (a ReadableStream or an
 * async iterable of Uint8Array chunks, e.g. Cloudflare's `message.raw`),
 * read once, chunk by chunk: the key lookups start as soon as the header
 * block is in, while the body streams, and memory does not grow with the
 * body. `resolveTxt(name)` resolves to the TXT records at `name` as an
 * array of records, each an array of strings (what Node's
 * `dns.promises.resolveTxt` returns); `null`/`[]` or a thrown
 * ENOTFOUND/ENODATA mean no record, any other error a temporary failure.
 * Resolves to `{ results, authenticationResults,
 * authenticationResultsField, fromDomain, dmarc?, legacyPolicy? }`. With
 * `diagnostics` (true: up to 1 MiB of body, or a byte count), each result
 * carries what it was checked against: the canonicalized header data and
 * body, and the body hash computed.
 */
export async function verify(message, options) {
  if (!options || typeof options !== 'object') {
    throw invalid('options { resolveTxt } are required');
  }
  const o = plain(options, 'the verify options', VERIFY_KEYS);
  checkKeys(o, VERIFY_KEYS, 'verify option');
  const {
    resolveTxt, policy: givenPolicy, authservId = 'localhost', lookupPolicies = false, diagnostics,
  } = o;
  if (typeof resolveTxt !== 'function') {
    throw invalid('resolveTxt (an async function: name => string[][]) is required');
  }
  if (givenPolicy !== undefined && (!givenPolicy || typeof givenPolicy !== 'object')) {
    throw invalid('policy must be an object');
  }
  const given = plain(givenPolicy, 'the policy', POLICY_KEYS);
  checkKeys(given, POLICY_KEYS, 'policy option');
  const policy = Object.create(null);
  for (const k of POLICY_FLAGS) policy[k] = optBool(given, k);
  for (const k of POLICY_COUNTS) policy[k] = optCount(given, k);
  // `now`, like sign's `timestamp`: seconds since 1970
  const at = o.now === undefined ? now() : o.now;
  if (!Number.isSafeInteger(at) || at < 0) {
    throw invalid('now must be a time in seconds since 1970 (a non-negative integer)');
  }
  const timeout = o.lookupTimeout === undefined ? DEFAULT_LOOKUP_TIMEOUT : o.lookupTimeout;
  if (typeof timeout !== 'number' || !(timeout > 0 && timeout <= 0x7fffffff)) {
    throw invalid('lookupTimeout must be a positive number of milliseconds');
  }
  if (typeof authservId !== 'string') throw invalid('authservId must be a string');
  const chunks = chunksOf(message);
  const bytes = chunks ? null : toBytes(message);
  if (diagnostics !== undefined && diagnostics !== false
      && !(Number.isSafeInteger(diagnostics) && diagnostics >= 0) && diagnostics !== true) {
    throw invalid('diagnostics must be true or a number of body bytes to keep');
  }
  // One lookup per name, started once the verifier names it, given
  // `timeout` to settle; a lookup never rejects (its failure is the
  // answer: a WaxsealError for an answer that is not TXT records), and the
  // answers are handed to the verifier only after the whole message is in.
  const lookups = new Map();
  const lookup = async (name) => {
    let timer;
    const expired = new Promise((resolve) => {
      timer = setTimeout(resolve, timeout, 'tempfail');
    });
    try {
      const asked = (async () => {
        try {
          const records = await resolveTxt(name);
          if (records === null || records === undefined) return 'nxdomain';
          const plainList = plainRecords(records);
          return plainList.length === 0 ? 'nxdomain' : plainList;
        } catch (e) {
          if (e instanceof WaxsealError) return e;
          return notFoundError(e) ? 'nxdomain' : 'tempfail';
        }
      })();
      return await Promise.race([asked, expired]);
    } finally {
      clearTimeout(timer);
    }
  };
  // the core's driver hands out the queries once, with the chunk that
  // completes the header block (or at the end, for a message without
  // body): their lookups run while the rest of the message goes in
  const v = call(() => new raw.Verifier(policy, at, Boolean(lookupPolicies)));
  const startLookups = (queries) => {
    for (const q of queries) if (!lookups.has(q.name)) lookups.set(q.name, lookup(q.name));
  };
  try {
    if (diagnostics) call(() => v.diagnostics(diagnostics === true ? 1 << 20 : diagnostics));
    if (chunks) {
      try {
        const text = new ChunkText();
        for await (const chunk of chunks) {
          for (const bytes of text.bytes(chunk, 'chunk')) {
            for (const piece of pieces(bytes)) startLookups(call(() => v.update(piece)));
          }
        }
        for (const bytes of text.end()) startLookups(call(() => v.update(bytes)));
      } catch (e) {
        if (e instanceof WaxsealError) throw e;
        throw new WaxsealError('ERR_STREAM', `reading the message failed: ${e && e.message !== undefined ? e.message : String(e)}`, { cause: e });
      }
    } else {
      for (const piece of pieces(bytes)) startLookups(call(() => v.update(piece)));
    }
    startLookups(call(() => v.end()));
    const answers = await Promise.all([...lookups].map(async ([name, p]) => [name, await p]));
    for (const [, answer] of answers) if (answer instanceof WaxsealError) throw answer;
    for (const [name, answer] of answers) call(() => v.answer(name, answer));
    // every check but the public-key operations runs in WebAssembly; the
    // RSA ones then run natively: the runtime's own (platform.js), else
    // WebCrypto, where the runtime has either
    const outcomes = await rsaOutcomes(call(() => v.finishPending()));
    return call(() => v.settle(outcomes, authservId));
  } finally {
    v.free();
  }
}
