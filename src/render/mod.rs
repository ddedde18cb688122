//! Rendering: every artefact a backend installs, made from a spec by pure functions.

pub mod launchd;
pub mod scm;
pub mod startup;
pub mod systemd;
