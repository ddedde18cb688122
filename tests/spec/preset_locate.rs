//! `respawn spec --preset` without the program or the profile (placeholders and
//! notes), and where the preset lookup finds the program: an explicit `--command`,
//! beside respawn's own executable (pip-installed into the program's venv, not
//! activated), the active venv. Issue 16, item 6.

use crate::common::*;
use respawn::spec::Spec;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An environment with no hermes anywhere: basic PATH, HOME in the temp dir, no venv.
fn isolated(h: &Harness, exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", h.path("home"))
        .env("RESPAWN_STATE_DIR", h.state_root());
    cmd
}

fn respawn_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_respawn"))
}

#[cfg(unix)]
fn fake_program(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let exe = dir.join("hermes");
    std::fs::write(&exe, "#!/bin/sh\nexec sleep 1000\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

fn stdout(out: &std::process::Output) -> String {
    ok(out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn spec_prints_without_the_program_or_the_profile_with_placeholders_and_notes() {
    let h = Harness::new();
    let out = isolated(&h, &respawn_exe())
        .args(["spec", "--preset", "hermes", "--profile", "work"])
        .output()
        .unwrap();
    let text = stdout(&out);
    // The placeholder is the bare program name, and a note says what install does.
    assert!(text.contains("command = \"hermes\""), "{text}");
    assert!(
        text.contains("# NOTE: `hermes` is not installed here"),
        "{text}"
    );
    assert!(text.contains("pip install hermes-agent"), "{text}");
    assert!(text.contains("--command PATH"), "{text}");
    assert!(
        text.contains("# NOTE: profile `work` has no home yet"),
        "{text}"
    );
    assert!(text.contains("hermes profile create work"), "{text}");
    // Still a spec: every note is a comment.
    let spec = Spec::parse(&text, None, Path::new("/")).unwrap();
    assert_eq!(spec.id(), "hermes-work");
    // A bad profile *name* is still refused: no spec can hold it.
    let out = isolated(&h, &respawn_exe())
        .args(["spec", "--preset", "hermes", "--profile", "Work"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn an_explicit_command_is_used_by_spec_and_install() {
    let h = Harness::new();
    let program = fake_program(&h.path("elsewhere"));
    let out = isolated(&h, &respawn_exe())
        .args(["spec", "--preset", "hermes", "--command"])
        .arg(&program)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains(&format!("command = \"{}\"", program.display())),
        "{text}"
    );
    assert!(!text.contains("NOTE"), "nothing is missing: {text}");

    let out = isolated(&h, &respawn_exe())
        .args([
            "install",
            "--preset",
            "hermes",
            "--backend",
            "portable",
            "--json",
        ])
        .arg("--command")
        .arg(&program)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let saved = std::fs::read_to_string(report["spec_path"].as_str().unwrap()).unwrap();
    assert!(
        saved.contains(&format!("command = \"{}\"", program.display())),
        "{saved}"
    );

    // A --command that is not a program is refused by install, with the path.
    let out = isolated(&h, &respawn_exe())
        .args(["install", "--preset", "hermes", "--backend", "portable"])
        .args(["--command", "/nonexistent/hermes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--command /nonexistent/hermes"), "{stderr}");
}

/// `pip install respawn-cli` into the gateway's venv puts respawn in VENV/bin beside
/// hermes; run by its path, without activating the venv, it finds that hermes.
#[cfg(unix)]
#[test]
fn the_program_beside_respawns_own_executable_is_found_without_an_active_venv() {
    let h = Harness::new();
    let bin = h.path("venv/bin");
    let program = fake_program(&bin);
    let respawn = bin.join("respawn");
    // A copy, not a symlink: the OS reports a symlinked executable's target.
    if std::fs::hard_link(respawn_exe(), &respawn).is_err() {
        std::fs::copy(respawn_exe(), &respawn).unwrap();
    }
    let out = isolated(&h, &respawn)
        .args(["spec", "--preset", "hermes"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains(&format!("command = \"{}\"", program.display())),
        "{text}"
    );
    // The respawn of the checkout (no hermes beside it) does not find it.
    let out = isolated(&h, &respawn_exe())
        .args(["spec", "--preset", "hermes"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("command = \"hermes\""));
}
