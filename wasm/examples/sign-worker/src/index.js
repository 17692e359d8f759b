// A Cloudflare Worker that DKIM-signs mail for a sending API: POST the raw
// message, get it back signed (RFC 6376), ready to hand to your SMTP relay
// or mail API.
//
//   POST /sign               body: the message (message/rfc822), bytes as sent
//     Authorization: Bearer <API_TOKEN>
//     -> 200 message/rfc822, the message with DKIM-Signature field(s) on top
//     ?output=header -> 200 text/plain, only the DKIM-Signature field(s)
//   GET /record              the DNS record(s) to publish for the key(s)
//
// Configuration (wrangler.toml [vars] and secrets):
//   DKIM_DOMAIN, DKIM_SELECTOR            d= and s=
//   DKIM_PRIVATE_KEY (secret)             the PEM private key (RSA or Ed25519, PKCS#8 or PKCS#1)
//   DKIM_SELECTOR_2, DKIM_PRIVATE_KEY_2   optional second key: RSA and Ed25519 side by side (RFC 8463)
//   API_TOKEN (secret)                    callers present it as a bearer token
//   ALLOW_UNALIGNED_FROM = "true"         also sign mail whose From is outside DKIM_DOMAIN (default: refuse)
//   MAX_MESSAGE_BYTES                     default 26214400 (25 MiB)
//
// The key is read from the secret binding, checked, and imported into
// WebCrypto once per isolate (waxseal keeps the non-extractable CryptoKey);
// every later request only signs.
import { Signer, WaxsealError, dnsRecord, sign, signMessage } from 'waxseal';

const DEFAULT_MAX_BYTES = 25 * 1024 * 1024;

/** The signing options, built and checked once per isolate (and again only if a secret changes). */
let prepared = null;

function signingOptions(env) {
  const fingerprint = `${env.DKIM_DOMAIN}|${env.DKIM_SELECTOR}|${env.DKIM_PRIVATE_KEY}|${env.DKIM_SELECTOR_2}|${env.DKIM_PRIVATE_KEY_2}`;
  if (prepared && prepared.fingerprint === fingerprint) return prepared.options;
  const keys = [[env.DKIM_SELECTOR, env.DKIM_PRIVATE_KEY]];
  if (env.DKIM_PRIVATE_KEY_2 || env.DKIM_SELECTOR_2) keys.push([env.DKIM_SELECTOR_2, env.DKIM_PRIVATE_KEY_2]);
  const options = keys.map(([selector, privateKey]) => {
    if (!env.DKIM_DOMAIN || !selector || !privateKey) {
      throw new ConfigError('DKIM_DOMAIN, DKIM_SELECTOR and the secret DKIM_PRIVATE_KEY must be set (and both of a second pair)');
    }
    if (/-----BEGIN (RSA )?PUBLIC KEY-----/.test(privateKey)) throw new ConfigError(`the secret for selector ${selector} is a public key`);
    try {
      // parses the private key (a public key, p= data or garbage fails
      // here, once), and d= and s= with it
      new Signer({ domain: env.DKIM_DOMAIN, selector, privateKey });
    } catch (e) {
      throw new ConfigError(`the key for selector ${selector} is not usable: ${e.message}`);
    }
    return { domain: env.DKIM_DOMAIN, selector, privateKey };
  });
  prepared = { fingerprint, options };
  return options;
}

class ConfigError extends Error {}

function json(status, error, message, headers = {}) {
  return Response.json({ error, message }, { status, headers });
}

/** Compares the presented token with the configured one in constant time. */
function tokenMatches(presented, expected) {
  const a = new TextEncoder().encode(presented);
  const b = new TextEncoder().encode(expected);
  if (crypto.subtle.timingSafeEqual) {
    return a.length === b.length && crypto.subtle.timingSafeEqual(a, b);
  }
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= b[i] ^ (i < a.length ? a[i] : 0);
  return diff === 0;
}

/** Reads the request body, refusing more than `max` bytes without holding them. */
async function readBody(request, max) {
  const declared = Number(request.headers.get('content-length'));
  if (declared > max) return null;
  const chunks = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The From fields of the header block (RFC 5322 3.6.2): for each, the
 * domains of all its mailboxes, lower case. A message must have exactly
 * one From to be signed (RFC 6376 8.15: a second From makes what the
 * reader sees differ from what was signed), and every mailbox in it must
 * be in DKIM_DOMAIN: `From: boss@victim.example, me@example.com` is a
 * valid mailbox-list (RFC 5322 3.4) that names another domain's author.
 */
function fromDomains(bytes) {
  const text = new TextDecoder().decode(bytes.subarray(0, Math.min(bytes.length, 1 << 20)));
  const head = text.split(/\r?\n\r?\n/, 1)[0].replace(/\r?\n[ \t]+/g, ' ');
  return head.split(/\r?\n/)
    .filter((line) => /^from\s*:/i.test(line))
    .map((line) => mailboxes(line.replace(/^from\s*:/i, '')).map((address) =>
      address.slice(address.lastIndexOf('@') + 1).replace(/\s/g, '').toLowerCase()));
}

/**
 * The addresses of a mailbox-list (RFC 5322 3.4): split at the commas that
 * are outside quoted strings, comments and angle brackets; each mailbox's
 * address is what is in its angle brackets, or the whole of it.
 */
function mailboxes(value) {
  const out = [];
  let current = '';
  let angle = null;
  let depth = 0;
  let quoted = false;
  const end = () => {
    out.push((angle ?? current).trim());
    current = '';
    angle = null;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && (quoted || depth > 0)) {
      if (!depth) current += value.slice(i, i + 2);
      i++;
    } else if (quoted) {
      current += c;
      if (c === '"') quoted = false;
    } else if (depth > 0) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') {
      depth = 1;
    } else if (c === '"') {
      quoted = true;
      current += c;
    } else if (c === '<') {
      angle = '';
      current += c;
    } else if (c === '>' && angle !== null) {
      angle = angle.trim();
      current += c;
    } else if (c === ',') {
      end();
    } else {
      if (angle !== null && !current.endsWith('>')) angle += c;
      current += c;
    }
  }
  end();
  return out.filter((a) => a !== '');
}

/** d= covers the From domain: the same domain, or a parent of it (DMARC relaxed alignment within one domain). */
function aligned(fromDomain, d) {
  const dd = d.toLowerCase().replace(/\.$/, '');
  return fromDomain === dd || fromDomain.endsWith(`.${dd}`);
}

async function handleSign(request, env, url) {
  if (!env.API_TOKEN) throw new ConfigError('the secret API_TOKEN must be set: this worker never signs for anyone who asks');
  const auth = request.headers.get('authorization') ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
  if (!token || !tokenMatches(token, env.API_TOKEN)) {
    return json(401, 'unauthorized', 'a valid bearer token is required', { 'www-authenticate': 'Bearer' });
  }
  const options = signingOptions(env);
  const max = Number(env.MAX_MESSAGE_BYTES) || DEFAULT_MAX_BYTES;
  const message = await readBody(request, max);
  if (!message) return json(413, 'too_large', `the message is larger than ${max} bytes`);
  if (env.ALLOW_UNALIGNED_FROM !== 'true') {
    const from = fromDomains(message);
    // a From without an address is in no domain
    const outside = from.length === 1 ? (from[0].length ? from[0].find((d) => !aligned(d, env.DKIM_DOMAIN)) : '') : undefined;
    if (outside !== undefined) {
      return json(422, 'from_not_aligned', `From is in ${outside || 'no domain'}, not in ${env.DKIM_DOMAIN}: refusing to vouch for another domain's mail`);
    }
    if (from.length > 1) return json(422, 'several_from', 'the message has more than one From field (RFC 5322 3.6)');
  }
  try {
    if (url.searchParams.get('output') === 'header') {
      return new Response(await sign(message, options), { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    }
    return new Response(await signMessage(message, options), { headers: { 'content-type': 'message/rfc822' } });
  } catch (e) {
    if (e instanceof WaxsealError && ['ERR_MALFORMED_MESSAGE', 'ERR_MISSING_FROM', 'ERR_SEVERAL_FROM', 'ERR_HEADER_TOO_LARGE'].includes(e.code)) {
      return json(422, e.code, e.message);
    }
    throw e;
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === '/sign' || url.pathname === '/') {
        if (request.method !== 'POST') return json(405, 'method_not_allowed', 'POST the message', { allow: 'POST' });
        return await handleSign(request, env, url);
      }
      if (url.pathname === '/record' && request.method === 'GET') {
        const records = signingOptions(env).map((o) => dnsRecord(o.privateKey, { selector: o.selector, domain: o.domain }));
        return new Response(`${records.map((r) => r.zoneLine).join('\n')}\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
      }
      return json(404, 'not_found', 'POST /sign, or GET /record');
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(`waxseal sign worker: configuration: ${e.message}`);
        return json(500, 'misconfigured', 'the signing worker is not configured; see its log');
      }
      console.error(`waxseal sign worker: ${e && e.stack ? e.stack : e}`);
      return json(500, 'internal', 'signing failed');
    }
  },
};
