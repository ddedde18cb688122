//! Windows, under Wine: the SCM backend and its host, tokens, job objects, per-user mode.

mod admin_files;
mod control;
mod health;
mod install_copies;
mod old_binary;
mod pid_file;
mod proc;
mod run_as_doctor;
mod s4u;
mod scm;
mod scm_owner;
mod session_end;
mod token;
mod trust;
mod update_token;
mod usage;
mod user;
