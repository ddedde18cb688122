//! Bad input: a one-line error, a hint, exit code 2, and nothing created.

use crate::common::*;

fn assert_bad(h: &Harness, args: &[&str], needle: &str) {
    let out = h.cmd(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(
        !h.state_root().exists(),
        "bad input created {}",
        h.state_root().display()
    );
}

fn run_spec(h: &Harness, toml: &str, needle: &str) {
    let spec = h.spec("s.toml", toml);
    for verb in ["run", "install", "check"] {
        assert_bad(h, &[verb, "--spec", spec.to_str().unwrap()], needle);
    }
}

#[test]
fn missing_spec_file() {
    let h = Harness::new();
    let missing = h.path("nope.toml");
    assert_bad(
        &h,
        &["run", "--spec", missing.to_str().unwrap()],
        "cannot read spec",
    );
}

#[test]
fn bad_toml() {
    run_spec(
        &Harness::new(),
        "name = \"x\ncommand = \"sh\"\n",
        "s.toml:1:",
    );
}

#[test]
fn unknown_field() {
    run_spec(
        &Harness::new(),
        "name = \"x\"\ncommand = \"sh\"\nrestrat = 1\n",
        "unknown field `restrat`",
    );
}

#[test]
fn bad_duration() {
    run_spec(
        &Harness::new(),
        "name = \"x\"\ncommand = \"sh\"\n[stop]\ntimeout = \"5 parsecs\"\n",
        "\"500ms\"",
    );
}

#[test]
fn empty_command() {
    run_spec(
        &Harness::new(),
        "name = \"x\"\ncommand = \"\"\n",
        "command: is empty",
    );
}

#[test]
fn bad_name() {
    run_spec(
        &Harness::new(),
        "name = \"my gateway\"\ncommand = \"sh\"\n",
        "can't be a service name",
    );
}

#[test]
fn command_not_found() {
    run_spec(
        &Harness::new(),
        "name = \"x\"\ncommand = \"no-such-program-xyz\"\n",
        "no-such-program-xyz",
    );
}

#[cfg(unix)]
#[test]
fn command_not_executable() {
    let h = Harness::new();
    std::fs::write(h.path("notexec.sh"), "#!/bin/sh\n").unwrap();
    run_spec(
        &h,
        "name = \"x\"\ncommand = \"./notexec.sh\"\n",
        "notexec.sh",
    );
}

#[test]
fn working_dir_missing() {
    run_spec(
        &Harness::new(),
        "name = \"x\"\ncommand = \"sh\"\nworking_dir = \"nowhere\"\n",
        "working_dir",
    );
}
