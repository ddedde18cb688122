//! The Windows service backend, in three parts: [`install`] registers, starts and
//! stops a real service with the Service Control Manager; [`host`] is that service at
//! run time (`respawn service-host`: the SCM's control handler around the one
//! supervisor engine); [`policy`] holds their decisions as pure functions, table-tested
//! on every OS.

#[cfg(windows)]
pub mod host;
#[cfg(windows)]
pub mod install;
pub mod policy;
