//! Every artefact rendered for a service manager (unit files, plists, presets), with goldens.

mod launchd;
mod native_env_file;
mod preset;
mod systemd;
mod systemd_health;
