// Runs the shared vectors in Node: node run-node.mjs PKG_DIR VECTORS.json
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { computeAll } from './compute.mjs';

const [pkgDir, vectorsPath] = process.argv.slice(2);
const waxseal = await import(pathToFileURL(`${pkgDir}/node.js`).href);
const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8'));
process.stdout.write(JSON.stringify(await computeAll(waxseal, vectors)));
