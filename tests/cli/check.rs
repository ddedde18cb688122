//! `respawn check` prints what the spec means (issue 16, item 11): the `ok` line
//! scripts rely on first, then the schedule, stop, log, names and install choice.

use crate::common::*;

#[test]
fn check_prints_what_the_spec_means_after_the_ok_line() {
    let h = Harness::new();
    // A program that exists on every OS: this test's own executable.
    let program = std::env::current_exe().unwrap().display().to_string();
    let spec = h.spec(
        "echo.toml",
        &format!("name = \"echo\"\ncommand = {program:?}\n[stop]\ntimeout = \"10s\"\n"),
    );
    let out = h.check(&spec);
    let text = ok(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("echo: ok (echo → "), "{text}");
    let log = h
        .service_dir("echo")
        .join("output.log")
        .display()
        .to_string();
    for (label, phrase) in [
        ("restart", "waits 1s, 2s, 4s"),
        ("stop", "waits up to 10s"),
        ("log", log.as_str()),
        (
            "names",
            "systemd unit echo.service · launchd label ai.respawn.echo · Windows service echo",
        ),
        ("install", "`respawn install` here uses the "),
    ] {
        let line = lines
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line: {text}"));
        assert!(line.contains(phrase), "{label}: {line}");
    }
}
