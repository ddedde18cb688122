//! Escaping, one function per target format, each with a round-trip test: every string
//! that ends up inside a command line, unit file or plist goes through here.

pub mod systemd;
pub mod toml;
pub mod windows;
