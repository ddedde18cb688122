//! respawn: keep a long-running program up as a real OS service, with honest restarts.
//!
//! # Where things live
//!
//! The layers, bottom up; each only uses the ones above it in this list.
//!
//! **Pure core** (no I/O, tested on every OS):
//! - [`spec`]: the TOML spec, parsed and validated once; [`duration`] its units.
//! - [`policy`]: the restart policy (backoff, planned restarts, give-up), clock injected.
//! - [`naming`]: every OS's name for a service (unit, label, Windows service).
//! - [`render`]: every artefact written for a service manager (unit, plist, SCM
//!   config, Run value), as data with golden tests; [`quote`] escapes every string
//!   that ends up in one, each with a round-trip test.
//! - [`exit`], [`control`], [`status`]: exit codes, the requests a supervisor takes,
//!   and what status reports.
//! - [`run_as`]: who the program runs as (Windows: the installing user, in their
//!   session, through S4U, or waiting; the admin-only paths and DACLs), as decision
//!   tables.
//!
//! **OS layer** — [`os`]: the thin typed front over OS calls (process trees in a group
//! or Job Object, process identity, signals/events). All `unsafe` lives there.
//!
//! **Supervisor** — [`supervisor`]: the one event-driven engine behind `respawn run`
//! and the Windows service host ([`service_host`], which starts the program as the
//! recorded user through [`service_user`] and follows their logons);
//! [`supervisor::client`] is how every other process talks to a running one (lock,
//! state, controls, launch); [`state`] holds the files a service keeps.
//!
//! **Backends** — [`backend`]: one [`backend::Backend`] trait, one module per service
//! manager (portable, systemd, launchd, scm, the Windows per-user login entry). They
//! keep a supervisor alive and return what they did; they never print.
//!
//! **Edges** — [`cli`]: clap definitions and one file per command, the only place that
//! prints; [`doctor`] checks a machine and a service; [`preset`] ready-made specs
//! (Hermes); [`describe`] what a spec means (`respawn check`); [`boot`] whether
//! anything starts a service at boot; [`envfile`] a spec's `env_file`;
//! [`admin_files`] the admin-only copies a Windows service runs; [`error`] the error
//! a user sees.

pub mod admin_files;
pub mod backend;
pub mod boot;
pub mod cli;
pub mod control;
pub mod describe;
pub mod doctor;
pub mod duration;
pub mod envfile;
pub mod error;
pub mod exit;
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
pub mod session_end;
pub mod signals;
pub mod spec;
pub mod state;
pub mod status;
pub mod supervisor;
