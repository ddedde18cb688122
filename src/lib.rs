//! respawn: keep a long-running program up as a real OS service, with honest restarts.
//!
//! The pure core (spec, policy, naming, rendering, quoting) has no I/O and is tested
//! on every OS. The supervisor engine is shared by `respawn run` and the Windows
//! service host. Backends (one module each) only keep that supervisor alive.

pub mod admin_files;
pub mod backend;
pub mod cli;
pub mod cli_docs;
pub mod doctor;
pub mod duration;
pub mod naming;
pub mod os;
pub mod policy;
pub mod preset;
pub mod quote;
pub mod render;
pub mod run_as;
#[cfg(windows)]
pub mod service_host;
#[cfg(windows)]
pub mod service_user;
pub mod signals;
pub mod spec;
pub mod state;
pub mod status;
pub mod supervisor;
