//! The `waxseal` command.
fn main() {}
