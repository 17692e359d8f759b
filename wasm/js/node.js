// waxseal for Node.js: loads the WebAssembly module from the package.
import { readFileSync } from 'node:fs';
import { initSync } from './wasm/waxseal_wasm.js';

initSync({ module: readFileSync(new URL('./wasm/waxseal_wasm_bg.wasm', import.meta.url)) });

export * from './api.js';
