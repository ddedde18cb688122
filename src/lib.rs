//! respawn: keep a long-running program up as a real OS service, with honest restarts.
//!
//! # Where things live
//!
//! Six layers, bottom up. A module uses only its own layer and the ones below it,
//! and the top-level modules import each other without a cycle: `tests/layers.rs`
//! reads this table and every `crate::` path under `src/` and fails otherwise. A type
//! two layers share lives in the lower one.
//!
//! | layer | modules |
//! |---|---|
//! | 1 core | text, duration, quote, exit, control, error, policy, spec, naming, envfile, run_as, trust, render |
//! | 2 os | os |
//! | 3 records | state, status, admin_files |
//! | 4 supervisor | supervisor |
//! | 5 backends | backend |
//! | 6 edges | boot, describe, preset, doctor, cli |
//!
//! **1 Core** — pure, no I/O but reading a spec file, tested on every OS:
//! [`spec`] the TOML spec, parsed and validated once ([`spec::file`] reads it and
//! what it names from disk); [`duration`] its units; [`policy`] the restart policy
//! (backoff, planned restarts, give-up), clock injected; [`naming`] every OS's name
//! for a service; [`render`] every artefact written for a service manager (unit,
//! plist, SCM config, Run value) as data with golden tests; [`quote`] escapes every
//! string that ends up in one, each with a round-trip test; [`run_as`] who the
//! program runs as (the installing user, in their session, through S4U, or waiting),
//! as decision tables; [`trust`] whether the SYSTEM host may trust a path (owner,
//! DACL, reparse points, every ancestor); [`envfile`] the dotenv format of `env_file`; [`exit`],
//! [`control`], [`error`], [`text`]: exit codes, the requests a supervisor takes, the
//! error a user sees, and words for people.
//!
//! **2 OS** — [`os`]: the thin typed front over OS calls (process trees in a group or
//! Job Object, process identity, tokens, ACLs, signals/events). All `unsafe` lives there.
//!
//! **3 Records** — [`state`]: the files a service keeps (state file, install record,
//! health fields); [`status`] what `status` reports from them; [`admin_files`] the
//! admin-only copies a Windows service runs.
//!
//! **4 Supervisor** — [`supervisor`]: the one event-driven engine behind `respawn run`
//! and the Windows service host, which starts the program as the recorded user
//! ([`supervisor::user_launch`] on Windows) and follows their logons;
//! [`supervisor::client`] is how every other process talks to a running one (lock,
//! state, controls, launch).
//!
//! **5 Backends** — [`backend`]: one [`backend::Backend`] trait, one module per service
//! manager (portable, systemd, launchd, the SCM with its service host, the Windows
//! per-user login entry). They keep a supervisor alive and return what they did,
//! with [`text::Remark`]s for the user; they never print.
//!
//! **6 Edges** — [`cli`]: clap definitions and one file per command, the only place
//! that prints (with [`doctor`], which checks a machine and a service, and the service
//! host's entry point); [`preset`] ready-made specs (Hermes); [`describe`] what a spec
//! means (`respawn check`); [`boot`] whether anything starts a service at boot.

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
pub mod spec;
pub mod state;
pub mod status;
pub mod supervisor;
pub mod text;
pub mod trust;

/// This build's version: the package version, and for a build from a git checkout
/// its commit (`build.rs`), so two builds of one version can be told apart.
pub const VERSION: &str = env!("RESPAWN_VERSION");
