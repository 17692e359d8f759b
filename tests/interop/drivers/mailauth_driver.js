'use strict';
// mailauth peer driver; run by peers.py as: node mailauth_driver.js STATE ...
//
//   STATE verify KEYS.json strict|lax MSG...  -> one JSON line per message
//   STATE sign SPEC.json                      -> the DKIM-Signature field on stdout
//   STATE version
// Keys come from KEYS.json ({"name": "TXT value" | null}) through mailauth's `resolver`
// option; no DNS is used.
const fs = require('node:fs');
const path = require('node:path');

const [state, cmd, ...args] = process.argv.slice(2);
const load = name => require(path.join(state, 'node_modules', name));
const out = s => process.stdout.write(s);
console.log = (...a) => process.stderr.write(a.join(' ') + '\n'); // mailauth debug prints: keep stdout clean

async function verify(keysPath, policy, files) {
    const { dkimVerify } = load('mailauth/lib/dkim/verify');
    const records = JSON.parse(fs.readFileSync(keysPath, 'utf8'));
    const resolver = async (name, rrtype) => {
        const value = records[String(name).toLowerCase().replace(/\.$/, '')];
        if (String(rrtype).toUpperCase() !== 'TXT' || value === undefined || value === null) {
            throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
        }
        return [value.match(/[^]{1,255}/g) || ['']]; // one record of <= 255-char strings
    };
    for (const file of files) {
        const res = { file, sigs: [], error: null };
        try {
            const r = await dkimVerify(fs.readFileSync(file), { resolver, minBitLength: policy === 'strict' ? 1024 : 1 /* 0 means 1024 */ });
            for (const s of r.results || []) {
                const st = s.status || {};
                if (!s.signingDomain && st.result === 'none') continue; // "message not signed"
                res.sigs.push({
                    d: s.signingDomain || '',
                    s: s.selector || '',
                    a: s.algo || '',
                    b: (st.header && st.header.b) || '', // first 8 characters only
                    result: st.result === 'pass' ? 'pass' : 'fail',
                    detail: st.result === 'pass' ? '' : `${st.result}${st.comment ? ` (${st.comment})` : ''}`
                });
            }
        } catch (err) {
            res.error = `${err.code || err.name}: ${err.message}`;
        }
        out(JSON.stringify(res) + '\n');
    }
}

async function sign(specPath) {
    const { dkimSign } = load('mailauth/lib/dkim/sign');
    const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
    const t = spec.timestamp === null ? Math.floor(Date.now() / 1000) : spec.timestamp;
    const res = await dkimSign(fs.readFileSync(spec.in), {
        signTime: new Date(t * 1000),
        expires: spec.expire === null ? undefined : new Date((t + spec.expire) * 1000),
        // mailauth signs every present instance of the listed fields (bottom-up order):
        // no oversigning, no absent fields; peers.py checks the h= it made
        headerList: spec.headers === null ? undefined : spec.headers.join(':'),
        signatureData: [{
            signingDomain: spec.domain,
            selector: spec.selector,
            privateKey: fs.readFileSync(spec.key), // PEM (PKCS#1 / PKCS#8), ed25519 too
            algorithm: spec.algorithm,
            canonicalization: spec.canon,
            // l=: mailauth puts the canonical body length it hashed
            ...(spec.length ? { maxBodyLength: Number.MAX_SAFE_INTEGER } : {})
        }]
    });
    if (res.errors && res.errors.length) {
        throw new Error(res.errors.map(e => (e.err && e.err.message) || String(e)).join('; '));
    }
    if (!res.signatures) throw new Error('mailauth made no signature');
    out(res.signatures);
}

async function main() {
    if (cmd === 'verify') return verify(args[0], args[1], args.slice(2));
    if (cmd === 'sign') return sign(args[0]);
    if (cmd === 'version') {
        const pkg = JSON.parse(fs.readFileSync(path.join(state, 'node_modules', 'mailauth', 'package.json'), 'utf8'));
        return out(`mailauth ${pkg.version} (node ${process.version})\n`);
    }
    process.stderr.write('usage: mailauth_driver.js STATE verify KEYS.json strict|lax MSG... | sign SPEC.json | version\n');
    process.exitCode = 2;
}

main().catch(err => {
    process.stderr.write(`mailauth: ${err.code || err.name}: ${err.message}\n`);
    process.exitCode = 1;
});
