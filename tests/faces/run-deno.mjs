// Runs the shared vectors in Deno:
// deno run --allow-read run-deno.mjs PKG_DIR VECTORS.json
import { computeAll } from './compute.mjs';

const [pkgDir, vectorsPath] = Deno.args;
const waxseal = await import(new URL(`file://${pkgDir}/browser.js`).href);
const vectors = JSON.parse(await Deno.readTextFile(vectorsPath));
console.log(JSON.stringify(await computeAll(waxseal, vectors)));
