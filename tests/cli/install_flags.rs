//! Install flags that only some backends understand are refused, never ignored.

use crate::common::*;

fn install(args: &[&str]) -> std::process::Output {
    let h = Harness::new();
    // Any program that exists on every OS will do: this test's own executable.
    let program = std::env::current_exe().unwrap().display().to_string();
    let spec = h.spec(
        "s.toml",
        &format!("name = \"flags\"\ncommand = {program:?}\n"),
    );
    h.respawn()
        .arg("install")
        .args(args)
        .arg("--spec")
        .arg(&spec)
        .output()
        .unwrap()
}

#[test]
fn native_and_linger_are_refused_where_they_mean_nothing() {
    for (args, flag) in [
        (&["--backend", "portable", "--native"][..], "--native"),
        (&["--backend", "portable", "--linger"][..], "--linger"),
    ] {
        let out = install(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("{flag} does not apply to the portable backend")),
            "{stderr}"
        );
    }
}

#[test]
fn user_and_system_exclude_each_other() {
    let out = install(&["--user", "--system"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

/// `--run-as` names a system service's account: a portable supervisor (and a user
/// unit, agent or login entry) runs as whoever starts it, so it is refused there and
/// nothing is installed.
#[test]
fn run_as_is_refused_where_the_service_runs_as_its_starter() {
    let out = install(&["--backend", "portable", "--run-as", "someone"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--run-as does not apply here (portable backend"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--system"),
        "the hint says where it applies: {stderr}"
    );
}

/// A preset fills in the home and program of whoever runs install: with `--run-as`
/// naming someone else (an elevated admin installing for a user) those would be the
/// admin's, so it is refused, saying what to do instead (issue 25).
#[test]
fn a_preset_for_another_account_is_refused_with_what_to_do() {
    let h = Harness::new();
    let out = h
        .respawn()
        .args([
            "install",
            "--preset",
            "hermes",
            "--run-as",
            "someone-else-entirely",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not someone-else-entirely's"), "{stderr}");
    assert!(
        stderr.contains("respawn spec --preset hermes > gateway.toml")
            && stderr.contains("--spec gateway.toml --run-as someone-else-entirely"),
        "{stderr}"
    );
}
