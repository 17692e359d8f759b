// The DNS key record in the forms people publish it (RFC 6376 3.6.2):
// host names, one string for web forms, quoted strings of at most 255
// bytes for zone files; and records pasted back in. No DOM.

import { parseQuotedTxt } from './doh.js';

/** Byte length of text as UTF-8 (what DNS counts). */
export function byteLength(text) {
  return new TextEncoder().encode(text).length;
}

/**
 * The names of a key record: `relative` for providers' web forms, which
 * append the domain themselves, `full`, `fqdn` (zone files, trailing dot)
 * and `doubled`, the name that results when the full name is typed into
 * such a form.
 */
export function hostNames(selector, domain) {
  const relative = `${selector}._domainkey`;
  const full = `${relative}.${domain}`;
  return { relative, full, fqdn: `${full}.`, doubled: `${full}.${domain}` };
}

/** A TXT value as zone-file strings: each at most 255 bytes (RFC 1035 3.3), quoted. */
export function zoneStrings(strings) {
  return strings.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`).join(' ');
}

/**
 * A record pasted by a person, in any of the usual forms: the plain value
 * (possibly wrapped over lines), zone-file quoted strings, or a whole
 * zone-file line (`name [ttl] [IN] TXT ( "..." "..." )`). Returns
 * `{ name | null, value }` (strings concatenated, as a resolver hands them
 * to a verifier), or null for empty text.
 */
/** A zone-file line without its comment: from an unquoted `;` on (RFC 1035 5.1). */
function withoutComment(line) {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ';' && !quoted) return line.slice(0, i).trimEnd();
  }
  return line;
}

export function parsePastedRecord(text) {
  let t = String(text).trim();
  if (!t) return null;
  let name = null;
  const m = /^([^\s"]+)\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+([\s\S]*)$/i.exec(t);
  if (m) {
    name = m[1].replace(/\.$/, '');
    // zone-file comments (`; ----- DKIM key mail for example.com`, as
    // opendkim-genkey writes) end each line; a `;` inside quotes is text
    t = m[2].split(/\r?\n/).map(withoutComment).join('\n').trim().replace(/^\(\s*/, '').replace(/\s*\)$/, '');
  }
  if (t.startsWith('"')) {
    // quoted strings, possibly over several lines
    return { name, value: t.split(/\r?\n/).map((line) => parseQuotedTxt(line.trim()).join('')).join('') };
  }
  return { name, value: t.split(/\r?\n/).map((line) => line.trim()).join('') };
}
