// Caller data (options, keys, messages, resolver answers), read before
// any WebAssembly runs.
//
// Design note: caller data never reaches WebAssembly as it was given. An
// exception thrown by a caller's getter, proxy trap or iterator while a
// WebAssembly function runs unwinds through its frames: the module's stack
// pointer stays moved and the Rust values on it are never freed, and after
// a few thousand such calls the module is broken for the whole process. So
// every public function first reads what it was given, here in JavaScript,
// into plain values (strings, numbers, booleans, fresh arrays, fresh
// Uint8Array views, objects without prototype), and the WebAssembly side
// reads only those. An exception while reading is an ERR_INVALID_OPTION
// with the original as `cause`; callbacks (resolveTxt, stream reads) run
// only here, never from inside a WebAssembly call.

import { WaxsealError, invalid } from './errors.js';

/** Runs `read` over caller data; an exception in it becomes a WaxsealError. */
export function reading(what, read) {
  try {
    return read();
  } catch (e) {
    if (e instanceof WaxsealError) throw e;
    throw invalid(`reading ${what} failed: ${describe(e)}`, { cause: e });
  }
}

// the message of a thrown value, without running any of its code
function describe(e) {
  try {
    if (e instanceof Error) {
      const d = Object.getOwnPropertyDescriptor(e, 'message');
      if (d && typeof d.value === 'string') return d.value;
    }
    return typeof e === 'string' ? e : Object.prototype.toString.call(e);
  } catch {
    return 'an exception';
  }
}

export const encoder = new TextEncoder();

// The built-in accessors: a typed array's own (or a subclass's) `buffer`,
// `length` or `byteOffset` may be redefined by the caller; these read the
// internal slots. A Proxy has none, so it is refused, not trapped.
const intrinsic = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get;
const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const VIEW = {
  typed: ['buffer', 'byteOffset', 'byteLength'].map((n) => intrinsic(TypedArrayProto, n)),
  data: ['buffer', 'byteOffset', 'byteLength'].map((n) => intrinsic(DataView.prototype, n)),
};
const arrayBufferLength = intrinsic(ArrayBuffer.prototype, 'byteLength');

/** A fresh Uint8Array over the bytes of `value` (no copy), or null. */
export function bytesOf(value) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return null;
  if (ArrayBuffer.isView(value)) {
    for (const [buffer, offset, length] of [VIEW.typed, VIEW.data]) {
      try {
        return new Uint8Array(buffer.call(value), offset.call(value), length.call(value));
      } catch {
        // not this kind of view
      }
    }
    return null;
  }
  try {
    arrayBufferLength.call(value);
    return new Uint8Array(value);
  } catch {
    return null;
  }
}

export function toBytes(message, what = 'message') {
  if (typeof message === 'string') return encoder.encode(message);
  const b = bytesOf(message);
  if (b) return b;
  throw invalid(`${what} must be a string or a Uint8Array`);
}

/**
 * The chunks of a stream as bytes, strings encoded as if they were one: a
 * surrogate pair cut between two string chunks is held back and encoded
 * whole, as TextEncoderStream does (each chunk on its own would make both
 * halves U+FFFD, and the signature would cover bytes never sent). A lone
 * high surrogate before a byte chunk or at the end is U+FFFD.
 */
export class ChunkText {
  #high = '';

  /** The bytes of `chunk`: zero, one or two arrays. */
  bytes(chunk, what) {
    if (typeof chunk === 'string') {
      let s = this.#high + chunk;
      this.#high = '';
      const last = s.charCodeAt(s.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        this.#high = s.slice(-1);
        s = s.slice(0, -1);
      }
      return s ? [encoder.encode(s)] : [];
    }
    const b = toBytes(chunk, what);
    return [...this.end(), b];
  }

  /** What is held back, at the end of the stream. */
  end() {
    const h = this.#high;
    this.#high = '';
    return h ? [encoder.encode(h)] : [];
  }
}

/**
 * A plain copy of the caller's object, read once: its own enumerable
 * properties, and the `known` names it inherits (a class's getters, an
 * object made from defaults with Object.create).
 */
export function plain(value, what, known = []) {
  if (value === undefined || value === null) return Object.create(null);
  if (typeof value !== 'object') throw invalid(`${what} must be an object`);
  return reading(what, () => {
    const out = Object.create(null);
    for (const k of Object.keys(value)) out[k] = value[k];
    for (const k of known) {
      if (!(k in out) && k in value) out[k] = value[k];
    }
    return out;
  });
}

export function checkKeys(o, allowed, what) {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) throw invalid(`unknown ${what} \`${k}\``);
  }
}

export function optString(o, k) {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`option \`${k}\` must be a string`);
  return v;
}

export function optBool(o, k) {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(`option \`${k}\` must be a boolean`);
  return v;
}

/** A time or count: a non-negative safe integer. */
export function optCount(o, k) {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || v < 0) throw invalid(`option \`${k}\` must be a non-negative integer`);
  return v;
}

export function optStrings(o, k) {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  const list = reading(`option \`${k}\``, () => {
    if (!Array.isArray(v)) return null;
    const out = [];
    for (let i = 0; i < v.length; i++) out.push(v[i]);
    return out;
  });
  if (!list || !list.every((s) => typeof s === 'string')) {
    throw invalid(`option \`${k}\` must be an array of strings`);
  }
  return list;
}

/**
 * A key as given (PEM text, DER or PEM bytes, a key pair): `{ id, data }`,
 * `data` the bytes the WebAssembly side parses and `id` a string naming
 * them, for the caches below.
 */
export function keyMaterial(key, what = 'privateKey') {
  if (typeof key === 'string') return { id: key, data: encoder.encode(key) };
  const bytes = bytesOf(key);
  if (bytes) {
    const data = bytes.slice();
    let id = 'bytes:';
    for (let i = 0; i < data.length; i += 0x8000) id += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return { id, data };
  }
  const text = key && typeof key === 'object' ? reading(what, () => key.privateKey) : undefined;
  if (typeof text === 'string') return keyMaterial(text);
  throw invalid(`${what} must be a PEM string, DER bytes or a key pair from generateKey()`);
}

/**
 * A resolver's answer as plain values: an array of records, each an array
 * of strings or fresh byte copies. Throws a WaxsealError for anything else.
 */
export function plainRecords(records) {
  const wrong = () => invalid('resolveTxt must resolve to an array of records, each an array of strings');
  return reading('the answer of resolveTxt', () => {
    if (!Array.isArray(records)) throw wrong();
    const out = [];
    for (let i = 0; i < records.length; i++) {
      const rec = records[i];
      const strings = [];
      if (Array.isArray(rec)) {
        for (let j = 0; j < rec.length; j++) strings.push(rec[j]);
      } else {
        strings.push(rec);
      }
      out.push(strings.map((t) => {
        if (typeof t === 'string') return t;
        const b = bytesOf(t);
        if (b) return b.slice();
        throw wrong();
      }));
    }
    return out;
  });
}

// Whether a resolver's error means "no such record", read without running
// the caller's code (an accessor `code` is not called).
export function notFoundError(e) {
  try {
    if (!e || typeof e !== 'object') return false;
    for (const k of ['code', 'name']) {
      const d = Object.getOwnPropertyDescriptor(e, k) ?? Object.getOwnPropertyDescriptor(Object.getPrototypeOf(e) ?? {}, k);
      if (d && 'value' in d && notFound({ code: d.value })) return true;
    }
    return false;
  } catch {
    return false;
  }
}

export function notFound(e) {
  const code = e && (e.code || e.name);
  return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN' || code === 'NotFound';
}
