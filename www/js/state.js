// What the page holds: the domain and the keys made here (private keys in
// memory only: nothing is stored, nothing is sent). Views subscribe with
// onChange and redraw themselves.
import { dnsRecord } from 'waxseal';

export const state = {
  /** The domain as typed, cleaned (see cleanDomain); '' when not valid yet. */
  domain: '',
  /** `{ id, algorithm, bits, privateKey, publicKey, selector, testing, saved }` */
  keys: [],
  /** The last signed message, bytes, for "verify it below". */
  signed: null,
};

const listeners = new Set();

/** Calls `fn(what)` on every change; returns the function that stops it. */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Tells every view that `what` changed ('domain', 'keys', 'signed'). */
export function changed(what) {
  for (const fn of listeners) fn(what);
}

/**
 * A domain as people type it, made into a DNS name: white space, a
 * leading "alice@", "http(s)://" and a trailing dot removed; international
 * names become their A-label (xn--) form, which is what DNS holds.
 */
export function cleanDomain(text) {
  let d = String(text).trim().replace(/^[a-z]+:\/\//i, '').replace(/[/?#].*$/, '');
  d = d.slice(d.lastIndexOf('@') + 1).replace(/\.$/, '');
  if (/[^\x00-\x7f]/.test(d)) {
    try {
      d = new URL(`http://${d}`).hostname;
    } catch {
      // left as typed; the check below reports it
    }
  }
  return d;
}

// 32 zero bytes as an Ed25519 p=: lets the DKIM core judge a name before
// any key exists
const PROBE = `${'A'.repeat(43)}=`;

/** Why a domain or selector is not valid (the core's own rules), or ''. */
export function nameProblem({ domain = 'example.com', selector = 's' }) {
  try {
    dnsRecord(PROBE, { keyType: 'ed25519', selector, domain });
    return '';
  } catch (e) {
    if (e.code === 'ERR_INVALID_DOMAIN') return 'This is not a valid domain name (letters, digits, hyphens and dots).';
    if (e.code === 'ERR_INVALID_SELECTOR') return 'A selector is made of letters, digits and hyphens (and dots between parts).';
    return e.message;
  }
}

/** The record to publish for a key, or null while the domain is missing. */
export function keyRecord(key) {
  if (!state.domain) return null;
  return dnsRecord(key, { selector: key.selector, domain: state.domain, testing: key.testing });
}

let nextId = 1;
export function newKeyId() {
  return nextId++;
}

/** True while a key exists that has not been saved to a file. */
export function unsavedKeys() {
  return state.keys.filter((k) => !k.saved);
}
