// RFC 6376 3.2 tag=value lists (DKIM key records, signatures), for reading
// what was published. No DOM.

/**
 * Parses a tag-list: `[{ name, value }]` in order, values with their
 * surrounding white space removed; `null` when it is not a tag-list (a
 * part without `=`, a bad tag name, or a tag named twice, which 3.2
 * forbids). A trailing `;` is allowed.
 */
export function parseTagList(text) {
  const parts = String(text).split(';');
  if (parts.length > 1 && parts[parts.length - 1].trim() === '') parts.pop();
  const tags = [];
  const seen = new Set();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    const name = part.slice(0, eq).trim();
    // tag-name = ALPHA *ALNUMPUNC (ALNUMPUNC: letters, digits, "_")
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name) || seen.has(name)) return null;
    seen.add(name);
    tags.push({ name, value: part.slice(eq + 1).trim() });
  }
  return tags;
}

/** The value of a tag, or undefined. Tag names are case-sensitive (3.2). */
export function tag(tags, name) {
  const t = tags && tags.find((x) => x.name === name);
  return t ? t.value : undefined;
}

/** Base64 data with the folding white space removed (3.6.1: p= may contain FWS). */
export function base64Value(v) {
  return String(v ?? '').replace(/[\s]+/g, '');
}
