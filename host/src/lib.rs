//! waxseal host (work in progress).
