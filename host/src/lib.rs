//! The `waxseal` command's library: the WebAssembly component in wasmtime
//! ([`component`]), private keys in native crypto ([`crypto`]), and the
//! command line ([`cli`]).

pub mod cli;
pub mod component;
pub mod crypto;
pub mod dns;
pub mod engine;
pub mod milter;
pub mod names;
pub mod verify_crypto;
