// Mail messages as bytes (RFC 5322): what the page reads from a file is
// used as is, never re-encoded; pasted text becomes CRLF bytes, as mail is
// on the wire. No DOM.

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

const encoder = new TextEncoder();

/**
 * Pasted text as message bytes: line breaks become CRLF (RFC 5322 2.1;
 * a browser hands textarea text over with LF), text is UTF-8. Returns
 * `{ bytes, converted }`, `converted` true when a line break was changed.
 */
export function textToMessage(text) {
  const crlf = String(text).replace(/\r\n|\r|\n/g, '\r\n');
  return { bytes: encoder.encode(crlf), converted: crlf !== text };
}

/** Bytes as text for display: UTF-8 where valid, U+FFFD where not. */
export function bytesToText(bytes) {
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

/** True when the bytes are not valid UTF-8 (then the text shown is approximate). */
export function isUtf8(bytes) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * The header fields of a message: `[{ name, start, end }]`, byte offsets
 * of each whole field (continuation lines and its line ending included),
 * top first, and `bodyStart`. CRLF and bare LF both end lines (bare LF as
 * the verifier reads it). Stops at the first empty line (RFC 5322 2.1).
 */
export function headerFields(bytes) {
  const fields = [];
  let i = 0;
  let current = null;
  while (i < bytes.length) {
    let end = bytes.indexOf(LF, i);
    end = end < 0 ? bytes.length : end + 1;
    const lineLen = end - i - (bytes[end - 1] === LF ? (bytes[end - 2] === CR && end - 2 >= i ? 2 : 1) : 0);
    if (lineLen === 0) {
      if (current) fields.push(current);
      return { fields, bodyStart: end };
    }
    if ((bytes[i] === SP || bytes[i] === HTAB) && current) {
      current.end = end; // continuation line (folding, RFC 5322 2.2.3)
    } else {
      if (current) fields.push(current);
      const colon = bytes.subarray(i, end).indexOf(58); // ':'
      const name = colon > 0 ? bytesToText(bytes.subarray(i, i + colon)).trim() : '';
      current = { name, start: i, end };
    }
    i = end;
  }
  if (current) fields.push(current);
  return { fields, bodyStart: bytes.length };
}

/** Every DKIM-Signature field, as bytes with its line ending, top first. */
export function dkimSignatureFields(bytes) {
  return headerFields(bytes).fields
    .filter((f) => f.name.toLowerCase() === 'dkim-signature')
    .map((f) => bytes.subarray(f.start, f.end));
}

/** `field` put on top of `message` (a field without a line ending gets CRLF). */
export function prependField(field, message) {
  const ending = field[field.length - 1] === LF ? new Uint8Array(0) : Uint8Array.of(CR, LF);
  const out = new Uint8Array(field.length + ending.length + message.length);
  out.set(field);
  out.set(ending, field.length);
  out.set(message, field.length + ending.length);
  return out;
}

/** A short sample message from `domain`, in CRLF. */
export function sampleMessage(domain) {
  const d = domain || 'example.com';
  const date = new Date().toUTCString().replace('GMT', '+0000');
  return [
    `From: Alice <alice@${d}>`,
    'To: Bob <bob@example.net>',
    'Subject: Our DKIM set-up works',
    `Date: ${date}`,
    `Message-ID: <${Date.now().toString(36)}.sample@${d}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello Bob,',
    '',
    'this message was signed in my browser with the key I just made.',
    'If its signature verifies, the DNS record is right.',
    '',
    'Alice',
    '',
  ].join('\r\n');
}
