// DNS TXT lookups over HTTPS (the JSON API of Cloudflare's resolver), in
// the shape waxseal's verify wants: records as arrays of strings, null for
// no record, a thrown error for a temporary failure.

/** Strings of a TXT record in presentation form (`"a" "b"`, RFC 1035 5.1 escapes). */
export function txtStrings(data) {
  const strings = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(data)) !== null) {
    strings.push(m[1].replace(/\\(\d{3}|.)/g, (_, e) => (e.length === 3 ? String.fromCharCode(Number(e)) : e)));
  }
  return strings.length ? strings : [String(data)];
}

/** A resolveTxt over `url` (default Cloudflare's DNS-over-HTTPS JSON endpoint). */
export function dohResolver(url = 'https://cloudflare-dns.com/dns-query') {
  return async (name) => {
    const u = new URL(url);
    u.searchParams.set('name', name);
    u.searchParams.set('type', 'TXT');
    const res = await fetch(u, { headers: { accept: 'application/dns-json' } });
    if (!res.ok) throw new Error(`DNS-over-HTTPS: HTTP ${res.status}`);
    const j = await res.json();
    if (j.Status === 3) return null; // NXDOMAIN
    if (j.Status !== 0) throw new Error(`DNS-over-HTTPS: rcode ${j.Status}`);
    // the TXT records at the end of any CNAME chain the resolver followed
    return (j.Answer ?? []).filter((a) => a.type === 16).map((a) => txtStrings(a.data));
  };
}
