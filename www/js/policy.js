// The legacy signing-policy record (`_policy._domainkey`, the `o=` of
// DomainKeys, RFC 4870 3.6.2, and of early DKIM drafts, as MDaemon still
// offers it) and the DMARC record (RFC 7489 6.3) that does its job today.
// The mapping is the one signer-core's policy module uses
// (LegacyPolicy::suggested_dmarc). No DOM.

/** The o= values, in plain words. */
export const PRACTICES = [
  { o: '~', words: 'Some of our mail is signed', detail: 'Receivers should not judge unsigned mail from us.', dmarc: 'none' },
  { o: '-', words: 'All of our mail is signed', detail: 'Unsigned mail from us is suspicious.', dmarc: 'quarantine' },
  { o: '!', words: 'All of our mail is signed, and nobody else signs for us (exclusive)', detail: 'Mail from us without our own valid signature is forged.', dmarc: 'reject', exclusive: true },
  { o: '.', words: 'We send no mail at all', detail: 'Any mail claiming to be from us is forged.', dmarc: 'reject' },
  { o: '^', words: 'Ask per user', detail: 'Receivers look for a policy at <user>._policy._domainkey.', dmarc: 'none' },
];

export function practice(o) {
  return PRACTICES.find((p) => p.o === o) ?? PRACTICES[0];
}

/** The legacy record's value, e.g. `o=~; t=y; r=postmaster@example.com`. */
export function legacyValue({ o, testing = false, report = '' }) {
  let v = `o=${practice(o).o}`;
  if (testing) v += '; t=y';
  if (report) v += `; r=${report}`;
  return v;
}

/**
 * The DMARC record with the same intent: `~` and `^` p=none (monitor),
 * `-` p=quarantine, `!` and `.` p=reject; a policy in test mode p=none;
 * strict DKIM alignment (adkim=s) for the exclusive practice; r= becomes
 * the aggregate report address (rua=mailto:).
 */
export function dmarcValue({ o, testing = false, report = '' }) {
  const p = practice(o);
  let v = `v=DMARC1; p=${testing ? 'none' : p.dmarc}`;
  if (p.exclusive) v += '; adkim=s';
  if (report) v += `; rua=${report.startsWith('mailto:') ? report : `mailto:${report}`}`;
  return v;
}

/** The record names for a domain. */
export function policyNames(domain) {
  return { legacy: `_policy._domainkey.${domain}`, dmarc: `_dmarc.${domain}` };
}
