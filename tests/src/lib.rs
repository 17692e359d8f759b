//! cross-face tests
