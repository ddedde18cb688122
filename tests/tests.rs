//! respawn's integration tests: one test crate (as ripgrep's tests/tests.rs), one
//! module per file of this folder, and one harness, [`common`].
//!
//! Why one crate and not a binary per file: cargo links every test crate against the
//! whole library and its dependencies, and runs test binaries one after another
//! anyway, each with as many threads as cores. Measured on the project's machine (2
//! cores shared with other sessions, load 5-12), `cargo test --no-run` after `cargo
//! clean -p respawn-cli`: the 38 test crates took 76.6 s of compiling and linking in
//! all (79 s wall for the whole build), the one crate 11.3 s (54 s wall); after an
//! edit in src/, 33 s against 4 s. On the Windows lane (mingw's linker) 234.5 s
//! against 23.4 s (211 s against 98 s wall). The runs: all of Linux (systemd in its
//! namespaces and the real Hermes gateway included) 148 s as 38 binaries, 136 s as
//! one; the Windows tests under Wine 185 s as binaries, 152-163 s as one. The same
//! two tests at a time, without a wait at the end of each file for its slowest test.
//!
//! What that asks of a test: tests of different files run at the same time, so each
//! one looks only at what it started (its harness's folder, marker arguments no other
//! test uses, service names with the time in them), as they already had to within a
//! file.
//!
//! A new file `tests/x.rs` needs a `mod x;` line below (Cargo.toml has
//! `autotests = false`, so cargo no longer finds it by itself);
//! `every_test_file_is_a_module_of_this_crate` fails until it has one. It starts with
//! `use crate::common::*;` if it uses the harness. One file's tests:
//! `cargo test --test tests x::` (the Windows lane: `scripts/windows-lane.sh test
//! --locked --test tests x::`).

mod common;

mod bad_input;
mod boot;
mod check_describe;
mod child_stdin_unix;
mod cli_docs;
mod doctor;
mod env_file;
mod env_file_native;
mod fault_matrix;
mod health_unix;
mod hermes_health;
mod hermes_real;
mod install_flags;
mod launchd_render;
mod main_pid_unix;
mod new_user;
mod package_name;
mod preset;
mod preset_locate;
mod readme;
mod reference;
mod spec_fuzz;
mod state_truth;
mod supervisor_unix;
mod systemd_real;
mod systemd_render;
mod systemd_render_health;
mod test_scripts;
mod update_portable;
mod windows_admin_files;
mod windows_control;
mod windows_health;
mod windows_install_copies;
mod windows_proc;
mod windows_run_as_doctor;
mod windows_scm;
mod windows_scm_owner;
mod windows_session_end;
mod windows_token;
mod windows_user;

#[test]
fn every_test_file_is_a_module_of_this_crate() {
    let this = std::fs::read_to_string(common::repo_root().join("tests/tests.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(common::repo_root().join("tests")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(module) = name.strip_suffix(".rs") {
            if module != "tests" && !this.contains(&format!("\nmod {module};\n")) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not compiled, so never run: add `mod NAME;` to tests/tests.rs for {missing:?}"
    );
}
