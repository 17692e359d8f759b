//! waxseal's DKIM core for WebAssembly hosts, with two faces:
//!
//! - `js` (wasm-bindgen, `wasm32-unknown-unknown`): the low-level exports
//!   behind the npm package `waxseal`, whose public API lives in
//!   `wasm/js/api.js` (options objects, WebCrypto, typed errors).
//! - `component` (wit-bindgen, `wasm32-wasip2`): the WebAssembly component
//!   described by `wit/waxseal.wit`; with `host-crypto`, the world that
//!   imports `crypto` so the host keeps the private keys.
//!
//! Both faces are conversions only; the logic is in `waxseal-core`. The
//! shared, face-independent part is [`common`]. The component brings its
//! own global allocator (module `small_blocks`).

pub mod common;

#[cfg(feature = "js")]
pub mod js;

#[cfg(feature = "component")]
pub mod component;

#[cfg(any(feature = "component", test))]
pub mod small_blocks;

/// The component's allocator (see [`small_blocks`]).
#[cfg(all(
    feature = "component",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: small_blocks::SmallBlocks = small_blocks::SmallBlocks::new();
