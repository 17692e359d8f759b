// waxseal for browsers and Deno: fetches the WebAssembly module next to
// this file (top-level await; the module is ready once imported).
import init from './wasm/waxseal_wasm.js';

await init({ module_or_path: new URL('./wasm/waxseal_wasm_bg.wasm', import.meta.url) });

export * from './api.js';
