// A Cloudflare Email Worker that verifies the DKIM signatures (RFC 6376) of
// inbound mail as it streams in (`message.raw`, read once, chunk by chunk:
// the key lookups start as soon as the header block is in, and the body is
// never held), then forwards the message with the result (RFC 8601
// Authentication-Results syntax) in a header field, or rejects it as
// configured.
//
// Configuration (wrangler.toml [vars]):
//   FORWARD_TO       where accepted mail goes (a verified destination address)
//   AUTHSERV_ID      the name in the results, e.g. "mx.example.com" (default "localhost")
//   RESULTS_HEADER   the field the results go in (default "X-Waxseal-Authentication-Results";
//                    Cloudflare adds only X- fields to a forwarded message)
//   REJECT_ON        "never" (default), "fail" or "no-pass" (see decide())
//   REQUIRE_ALIGNED  "true": a signature counts as a pass only when its d= is the From
//                    domain or a parent of it
//   DOH_URL          the DNS-over-HTTPS JSON endpoint (default Cloudflare's)
import { WaxsealError, verify } from 'waxseal';
import { dohResolver } from './doh.js';

const DEFAULT_HEADER = 'X-Waxseal-Authentication-Results';

function aligned(fromDomain, d) {
  if (!fromDomain || !d) return false;
  const f = fromDomain.toLowerCase();
  const dd = d.toLowerCase();
  return f === dd || f.endsWith(`.${dd}`);
}

/**
 * What to do with a message, from its results:
 * - "never": always forward, with the results.
 * - "fail": reject when a signature failed (fail or permerror) and none passed.
 * - "no-pass": reject unless a signature passed (unsigned mail too).
 * A temporary error (DNS) of a signature that would count is never a
 * reason to reject: Email Workers can only reject permanently, and the
 * sender is not at fault. With REQUIRE_ALIGNED, only signatures of the
 * From domain count, for this too: a forger cannot add a signature whose
 * key lookup fails (a domain of theirs whose DNS does not answer) to get
 * past the rule. Without it, any domain's signature counts, so anyone can
 * pass "no-pass" with a signature of their own: set it with "fail" and
 * "no-pass". RFC 6376 6.3 warns that rejecting on a missing or broken
 * signature loses legitimate mail (lists and forwarders change messages):
 * use "fail" and "no-pass" for addresses that only your own, signed
 * systems write to.
 * Returns `{ reject: false }` or `{ reject: true, reason }`.
 */
export function decide(report, env) {
  const policy = env.REJECT_ON ?? 'never';
  if (!['never', 'fail', 'no-pass'].includes(policy)) throw new Error(`REJECT_ON must be never, fail or no-pass, not ${policy}`);
  const eligible = (r) => env.REQUIRE_ALIGNED !== 'true' || aligned(report.fromDomain, r.domain);
  const counts = (r) => r.result === 'pass' && eligible(r);
  const passed = report.results.some(counts);
  const failed = report.results.filter((r) => r.result === 'fail' || r.result === 'permerror' || (r.result === 'pass' && !counts(r)));
  const temporary = report.results.some((r) => r.result === 'temperror' && eligible(r));
  if (policy === 'never' || passed || temporary) return { reject: false };
  if (failed.length) {
    const r = failed[0];
    const why = r.result === 'pass' ? `d=${r.domain} is not the From domain` : (r.reason ?? r.result);
    return { reject: true, reason: `DKIM ${r.result === 'pass' ? 'not aligned' : r.result}: ${why} (d=${r.domain ?? '?'} s=${r.selector ?? '?'})` };
  }
  if (policy === 'no-pass') return { reject: true, reason: 'DKIM: no valid signature' };
  return { reject: false };
}

export default {
  async email(message, env) {
    const authservId = env.AUTHSERV_ID || 'localhost';
    let report;
    try {
      report = await verify(message.raw, { resolveTxt: dohResolver(env.DOH_URL || undefined), authservId });
    } catch (e) {
      // not a mail message the verifier can read (a header line that is
      // not a field, or too large a header block): DKIM's evaluation ends
      // in a permanent error, but no signature failed, so "fail" lets it
      // through; "no-pass" refuses it, as it does unsigned mail
      if (!(e instanceof WaxsealError) || !['ERR_MALFORMED_MESSAGE', 'ERR_HEADER_TOO_LARGE'].includes(e.code)) throw e;
      report = {
        results: [],
        unreadable: e.code,
        authenticationResults: `${authservId}; dkim=permerror reason="message not readable"`,
      };
    }
    const verdict = decide(report, env);
    console.log(JSON.stringify({
      from: message.from, to: message.to, size: message.rawSize,
      dkim: report.unreadable ? [`permerror (${report.unreadable})`] : report.results.map((r) => r.summary),
      action: verdict.reject ? 'reject' : 'forward',
    }));
    if (verdict.reject) {
      // synchronous on Cloudflare; wrangler dev's local email trigger hands
      // it over RPC, where it only completes when awaited
      await message.setReject(verdict.reason);
      return;
    }
    if (!env.FORWARD_TO) throw new Error('FORWARD_TO is not set: nowhere to deliver accepted mail');
    const headers = new Headers({ [env.RESULTS_HEADER || DEFAULT_HEADER]: report.authenticationResults });
    await message.forward(env.FORWARD_TO, headers);
  },
};
