// Verifies every message in smtp-sink folders with the waxseal npm package
// (wasm/pkg), for tests/milter/load.sh:
//   node verify_sink.mjs KEYDIR TAG SINKDIR...
// KEYDIR holds <selector>._domainkey.<domain>.txt files (the TXT value).
// Reads the sink files as tests/milter/postfix.sh `extract` does (envelope
// lines and smtp-sink's Received dropped, LF made CRLF), keeps the messages
// whose Message-ID is <TAG.N@...>, and prints one JSON object: how many
// distinct messages, duplicates, and how many did not pass every signature
// (at least one signature each).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { verify } from '../../wasm/pkg/node.js';

const [keyDir, tag, ...sinks] = process.argv.slice(2);
const records = new Map();
for (const f of readdirSync(keyDir)) {
  if (f.endsWith('._domainkey.example.com.txt')) {
    records.set(f.slice(0, -4), [[readFileSync(join(keyDir, f), 'utf8').trim()]]);
  }
}
const resolveTxt = async (name) => records.get(name) ?? null;

function extract(buf) {
  let text = buf.toString('latin1');
  text = text.replace(/^(?:X-(?:Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): [^\n]*\n)*/, '');
  text = text.replace(/^Received: from [^\n]*\n\tby [^\n]* \(smtp-sink\) [^\n]*\n\t[^\n]*\n/, '');
  text = text.replace(/\n$/, '').replace(/\n/g, '\r\n');
  return Buffer.from(text, 'latin1');
}

const seen = new Map();
let duplicates = 0;
let failed = 0;
let unsigned = 0;
const idRe = new RegExp(`^Message-ID: <${tag.replace(/[.]/g, '\\.')}\\.(\\d+)@`, 'mi');
for (const dir of sinks) {
  for (const f of readdirSync(dir)) {
    const msg = extract(readFileSync(join(dir, f)));
    const head = msg.subarray(0, 65536).toString('latin1');
    const m = idRe.exec(head);
    if (!m) continue;
    if (seen.has(m[1])) { duplicates++; continue; }
    seen.set(m[1], true);
    const r = await verify(msg, { resolveTxt });
    if (r.results.length === 0) unsigned++;
    else if (!r.results.every((x) => x.result === 'pass')) failed++;
  }
}
console.log(JSON.stringify({ distinct: seen.size, duplicates, failed, unsigned }));
