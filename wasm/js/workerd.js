// waxseal for Cloudflare Workers (workerd): the runtime imports .wasm files
// as compiled WebAssembly.Module objects.
import wasmModule from './wasm/waxseal_wasm_bg.wasm';
import { initSync } from './wasm/waxseal_wasm.js';

initSync({ module: wasmModule });

export * from './api.js';
