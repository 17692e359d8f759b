// Why a signature failed, in plain words, from waxseal's verify results
// with `diagnostics`: which signed header field is missing or changed, or
// that the body changed, with what was hashed. No DOM.

import { diffLines, hunks } from './diff.js';
import { bytesToText } from './message.js';

const CR = 13;
const LF = 10;

/**
 * Splits canonicalized header data (RFC 6376 3.7: the h= fields, each
 * ending in CRLF, then the DKIM-Signature field without b='s value and
 * without a final CRLF) into fields. A CRLF followed by white space is
 * folding inside a field (simple canonicalization keeps it).
 * Returns `{ fields: [{ name, text }], signature: text }`.
 */
export function splitCanonicalHeaders(bytes) {
  const pieces = [];
  let start = 0;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF && bytes[i + 2] !== 0x20 && bytes[i + 2] !== 0x09) {
      pieces.push(bytes.subarray(start, i + 2));
      start = i + 2;
      i++;
    }
  }
  pieces.push(bytes.subarray(start));
  const fields = pieces.map((p) => {
    const text = bytesToText(p);
    const colon = text.indexOf(':');
    return { name: (colon > 0 ? text.slice(0, colon) : text).trim(), text: text.replace(/\r\n$/, '') };
  });
  const last = fields[fields.length - 1];
  const signature = last && last.name.toLowerCase() === 'dkim-signature' ? fields.pop().text : '';
  return { fields, signature };
}

/**
 * The field each h= entry selected (RFC 6376 5.4.2: bottom-up, one
 * instance per entry; an entry with no instance left selects nothing and
 * adds nothing to the hash). The canonical fields come out in h= order,
 * so each one belongs to the next entry with its name.
 * Returns `[{ name, text | null }]`, one per h= entry.
 */
export function alignSignedHeaders(signedHeaders, fields) {
  let next = 0;
  return signedHeaders.map((name) => {
    const f = fields[next];
    if (f && f.name.toLowerCase() === name.toLowerCase()) {
      next++;
      return { name, text: f.text };
    }
    return { name, text: null };
  });
}

/** "subject" -> "Subject", "message-id" -> "Message-ID", for people. */
export function fieldLabel(name) {
  const special = { 'message-id': 'Message-ID', 'mime-version': 'MIME-Version', cc: 'Cc', 'dkim-signature': 'DKIM-Signature' };
  const n = name.toLowerCase();
  return special[n] ?? n.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase());
}

function bodyLines(bytes) {
  const text = bytesToText(bytes);
  const lines = text.split('\r\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Explains one verify result. `sender` (optional) is the result for the
 * sender's copy under the same signature (its diagnostics are the sender
 * copy canonicalized with the same h= and c=).
 * Returns `{ result, words, headers, signature, body }`:
 * - `words`: sentences saying why (empty for pass)
 * - `headers`: per h= entry `{ name, label, status, received, sender }`,
 *   status 'same' | 'changed' | 'missing' | 'added' | 'present' | 'absent'
 *   ('present'/'absent' when there is no sender's copy)
 * - `body`: `{ changed, computed, declared, received, sender, hunks,
 *   tooDifferent, truncated }` (lines are canonicalized text)
 */
export function explain(result, sender) {
  const d = result.diagnostics;
  const out = { result: result.result, words: [], headers: [], signature: '', body: null };
  if (!d) {
    if (result.result !== 'pass' && result.reason) out.words.push(sentence(result.reason));
    return out;
  }
  const mine = splitCanonicalHeaders(d.canonicalHeaders);
  out.signature = mine.signature;
  const received = alignSignedHeaders(result.signedHeaders ?? [], mine.fields);
  const theirs = sender && sender.diagnostics
    ? alignSignedHeaders(result.signedHeaders ?? [], splitCanonicalHeaders(sender.diagnostics.canonicalHeaders).fields)
    : null;
  out.headers = received.map((r, i) => {
    const s = theirs ? theirs[i].text : undefined;
    let status;
    if (!theirs) status = r.text === null ? 'absent' : 'present';
    else if (r.text === null && s === null) status = 'same';
    else if (r.text === null) status = 'missing';
    else if (s === null) status = 'added';
    else status = r.text === s ? 'same' : 'changed';
    return { name: r.name, label: fieldLabel(r.name), status, received: r.text, sender: s };
  });

  const bodyChanged = d.computedBodyHash !== result.bodyHash;
  out.body = {
    changed: bodyChanged,
    computed: d.computedBodyHash,
    declared: result.bodyHash,
    truncated: d.bodyTruncated,
    received: bodyLines(d.canonicalBody),
    sender: sender && sender.diagnostics ? bodyLines(sender.diagnostics.canonicalBody) : null,
    hunks: null,
    tooDifferent: false,
  };
  if (out.body.sender) {
    const ops = diffLines(out.body.sender, out.body.received);
    if (ops === null) out.body.tooDifferent = true;
    else out.body.hunks = hunks(ops);
  }

  if (result.result === 'pass') return out;
  const code = result.reasonCode;
  if (code === 'body_hash_mismatch') {
    out.words.push('The body changed after the message was signed: the hash of the body computed here '
      + `(${d.computedBodyHash}) is not the one the signature carries (bh=${result.bodyHash}).`);
    if (out.body.sender && out.body.hunks && out.body.hunks.length === 0) {
      out.words.push('The canonicalized body equals the sender\'s copy, so the sender\'s copy is not what was signed either.');
    }
  } else if (code === 'bad_signature') {
    const changed = out.headers.filter((h) => h.status === 'changed' || h.status === 'missing' || h.status === 'added');
    if (theirs && changed.length) {
      // name each field once, in h= order
      const seen = new Set();
      for (const h of changed) {
        const key = `${h.status}:${h.name.toLowerCase()}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (h.status === 'changed') out.words.push(`The signed header field ${h.label} changed after signing.`);
        if (h.status === 'missing') out.words.push(`The signed header field ${h.label} was removed after signing.`);
        if (h.status === 'added') out.words.push(`A ${h.label} field was added after signing (the signature covers it as absent).`);
      }
    } else if (theirs) {
      out.words.push('The signed header fields and the body are as in the sender\'s copy, so the key does not fit the signature: '
        + 'the key record found is not the key that signed this message, or the signature (b=) was damaged.');
    } else {
      out.words.push('The body is intact, but the signature does not match the signed header fields: one of them changed '
        + 'after signing, or the key record found is not the key that signed. Add the sender\'s copy to see which field.');
    }
  } else if (result.reason) {
    out.words.push(sentence(result.reason));
  }
  return out;
}

/**
 * Where two versions of a line differ: the common start and end, and the
 * middle of each (for marking a changed byte inside a line).
 */
export function inlineDiff(a, b) {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  return { prefix: a.slice(0, pre), a: a.slice(pre, a.length - suf), b: b.slice(pre, b.length - suf), suffix: a.slice(a.length - suf) };
}

function sentence(s) {
  const t = String(s).trim();
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}
