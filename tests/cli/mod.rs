//! The command line as a user meets it: each command's output, errors and exit codes.

mod bad_input;
mod boot;
mod check;
mod comforts;
mod docs;
mod doctor;
mod failing_starts;
mod install_flags;
mod list_status;
mod package_name;
mod readme;
mod reference;
mod update;
