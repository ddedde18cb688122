//! Where PID 1 is not systemd, `install` picks the portable backend, which nothing
//! starts at boot: install says so (text and JSON) and what would, `doctor` warns,
//! and `--user`/`--system`, which mean nothing there, are refused. (Issue 16, item 2.)
//! This machine's PID 1 is not systemd in CI, so the default choice is tested too.

use crate::common::*;
use serde_json::Value;

fn spec(h: &Harness) -> std::path::PathBuf {
    let program = std::env::current_exe().unwrap().display().to_string();
    h.spec(
        "boot.toml",
        &format!("name = \"booty\"\ncommand = {program:?}\n"),
    )
}

fn install(h: &Harness, args: &[&str]) -> std::process::Output {
    h.respawn()
        .arg("install")
        .args(args)
        .arg("--spec")
        .arg(spec(h))
        .output()
        .unwrap()
}

#[test]
fn a_portable_install_says_nothing_starts_it_at_boot_and_what_would() {
    let h = Harness::new();
    let out = install(&h, &["--backend", "portable", "--json"]);
    let report: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["starts_at_boot"], false, "{report:#}");
    assert!(report["fallback_reason"].is_null(), "asked for: {report:#}");
    let note = report["boot_note"].as_str().unwrap();
    assert!(note.contains("nothing starts it after a reboot"), "{note}");
    // What would: `respawn run --spec` of this very spec, from the init system or
    // as a container's entrypoint.
    assert!(
        note.contains(&format!(
            "respawn run --spec {}",
            h.path("boot.toml").display()
        )),
        "{note}"
    );

    // doctor warns, with what would as the fix.
    let out = h.cmd(&["doctor", "booty", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = doctor_check(&report, "boot");
    assert_eq!(c["status"], "warn", "{c:#}");
    assert!(
        c["fix"].as_str().unwrap().contains("respawn run --spec"),
        "{c:#}"
    );
    assert_eq!(out.status.code(), Some(0), "a warning, not a failure");

    // Text: a note line after the usual one.
    ok(&h.cmd(&["uninstall", "booty"]));
    let out = install(&h, &["--backend", "portable"]);
    let text = ok(&out);
    assert!(
        text.contains("installed booty with the portable backend"),
        "{text}"
    );
    assert!(
        text.contains("note: nothing starts it after a reboot"),
        "{text}"
    );
    ok(&h.cmd(&["uninstall", "booty"]));
}

#[test]
fn user_and_system_are_refused_for_the_portable_backend() {
    for flag in ["--user", "--system"] {
        let h = Harness::new();
        let out = install(&h, &["--backend", "portable", flag]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} does not apply to the portable backend")),
            "{stderr}"
        );
        assert!(!h.state_root().exists(), "nothing was installed");
    }
}

/// The default choice where PID 1 is not systemd (Linux only; elsewhere the OS's
/// own manager is the default).
#[cfg(target_os = "linux")]
#[test]
fn without_systemd_the_default_install_is_portable_and_says_so_and_user_is_refused() {
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if pid1.trim() == "systemd" {
        eprintln!("SKIP: PID 1 is systemd here; the default is the systemd backend");
        return;
    }
    let h = Harness::new();
    let out = install(&h, &["--user"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--user does not apply to the portable backend"),
        "{stderr}"
    );

    let out = install(&h, &["--json"]);
    let report: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["backend"], "portable");
    assert_eq!(report["starts_at_boot"], false);
    // Chosen, not asked for: the report says why.
    let reason = report["fallback_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("systemd is not the init system here"),
        "{report:#}"
    );
    let note = report["boot_note"].as_str().unwrap();
    // Named for this machine: a container, WSL, or PID 1 by name.
    assert!(
        note.contains("entrypoint")
            || note.contains("WSL")
            || note.contains(&format!("PID 1 here is `{}`", pid1.trim())),
        "{note}"
    );
    ok(&h.cmd(&["uninstall", "booty"]));
}
