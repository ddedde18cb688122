//! respawn's integration tests: one test crate (as ripgrep's tests/tests.rs), one
//! module per file, grouped in folders by what they test (`cli/`, `supervisor/`,
//! `render/`, `spec/`, `hermes/`, `windows/`; `systemd.rs` boots a real systemd,
//! `layers.rs` holds the architecture), and one harness, [`common`].
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
//! A new file `tests/group/x.rs` needs a `mod x;` line in `tests/group/mod.rs` (a new
//! top-level file or folder, one below; Cargo.toml has `autotests = false`, so cargo
//! does not find it by itself); `every_test_file_is_a_module_of_this_crate` fails
//! until it has one. It starts with `use crate::common::*;` if it uses the harness.
//! One file's tests: `cargo test --test tests group::x::` (the Windows lane:
//! `scripts/windows-lane.sh test --locked --test tests windows::x::`).

mod common;

mod cli;
mod hermes;
mod layers;
mod render;
mod scripts;
mod spec;
mod supervisor;
mod systemd;
mod windows;

#[test]
fn every_test_file_is_a_module_of_this_crate() {
    let tests = common::repo_root().join("tests");
    let mut missing = Vec::new();
    // tests.rs declares the files and folders of tests/; a folder's mod.rs its files.
    for (dir, declared_in) in [
        (tests.clone(), tests.join("tests.rs")),
        (tests.join("cli"), tests.join("cli/mod.rs")),
        (tests.join("hermes"), tests.join("hermes/mod.rs")),
        (tests.join("render"), tests.join("render/mod.rs")),
        (tests.join("spec"), tests.join("spec/mod.rs")),
        (tests.join("supervisor"), tests.join("supervisor/mod.rs")),
        (tests.join("windows"), tests.join("windows/mod.rs")),
    ] {
        let this = std::fs::read_to_string(&declared_in).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let module = match name.strip_suffix(".rs") {
                Some(m) if m != "tests" && m != "mod" => m.to_string(),
                None if entry.path().join("mod.rs").is_file() && name != "common" => name.clone(),
                _ => continue,
            };
            if !this.contains(&format!("\nmod {module};\n")) {
                missing.push(entry.path().display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not compiled, so never run: add `mod NAME;` to its folder's mod.rs (or tests/tests.rs) for {missing:?}"
    );
}
