//! `env_file` (issue 16, item 14): a dotenv file of secrets beside the spec, read at
//! every child start (an edit applies at the next restart), the spec's `[env]` over
//! it, and its permissions checked like the spec's.
#![cfg(unix)]

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A service that prints what it got, then waits.
fn spec(h: &Harness) -> std::path::PathBuf {
    h.spec(
        "spec.toml",
        r#"
name = "envy"
command = "sh"
args = ["-c", "echo \"token=[$TOKEN] shared=[$SHARED] quoted=[$QUOTED]\"; exec sleep 1000"]
env_file = "secrets.env"

[env]
SHARED = "from the spec"

[restart]
backoff = ["100ms"]
"#,
    )
}

fn secrets(h: &Harness, text: &str) -> std::path::PathBuf {
    let path = h.path("secrets.env");
    std::fs::write(&path, text).unwrap();
    chmod(&path, 0o600);
    path
}

#[test]
fn the_child_gets_the_file_under_the_specs_env_and_an_edit_applies_at_the_next_start() {
    let h = Harness::new();
    let spec = spec(&h);
    secrets(
        &h,
        "# secrets\nexport TOKEN=first\nSHARED=from the file\nQUOTED=\"a \\\"b\\\" # c\"\n",
    );
    let mut sup = h.run(&spec);
    let child = h.wait_running("envy");
    let line = "token=[first] shared=[from the spec] quoted=[a \"b\" # c]";
    assert!(
        wait_for("first output", || h.log("envy").contains(line)),
        "{}",
        h.log("envy")
    );

    // Edit the file, kill the child: the new one starts with the new value.
    secrets(&h, "TOKEN=second\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    h.wait_new_child("envy", child);
    assert!(
        wait_for("second output", || h
            .log("envy")
            .contains("token=[second] shared=[from the spec] quoted=[]")),
        "{}",
        h.log("envy")
    );
    let _ = sup.kill();
    let _ = sup.wait();
}

#[test]
fn check_refuses_a_missing_bad_or_writable_file_and_warns_when_anyone_can_read_it() {
    let h = Harness::new();
    let spec = spec(&h);
    let check = || h.check(&spec);
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let out = check();
    assert_eq!(out.status.code(), Some(2), "missing: {}", stderr(&out));
    assert!(
        stderr(&out).contains("secrets.env: cannot read it"),
        "{}",
        stderr(&out)
    );

    let path = secrets(&h, "TOKEN=1\nnot a pair\n");
    let out = check();
    assert_eq!(out.status.code(), Some(2), "bad: {}", stderr(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));

    secrets(&h, "TOKEN=1\n");
    let out = check();
    ok(&out);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    chmod(&path, 0o644);
    let out = check();
    ok(&out);
    assert!(
        stderr(&out).contains("readable by everyone") && stderr(&out).contains("chmod 600"),
        "{}",
        stderr(&out)
    );

    for mode in [0o620, 0o602] {
        chmod(&path, mode);
        let out = check();
        assert_eq!(out.status.code(), Some(2), "{mode:o}: {}", stderr(&out));
        assert!(stderr(&out).contains("chmod go-w"), "{}", stderr(&out));
    }
}

#[test]
fn doctor_warns_about_a_world_readable_env_file() {
    let h = Harness::new();
    let spec = spec(&h);
    let path = secrets(&h, "TOKEN=1\n");
    h.install_portable(spec.to_str().unwrap());
    let env_check = || {
        let report = h.json(&["doctor", "envy", "--json"]);
        doctor_check(&report, "env-file").clone()
    };
    assert_eq!(env_check()["status"], "ok");
    chmod(&path, 0o644);
    let c = env_check();
    assert_eq!(c["status"], "warn", "{c:#}");
    assert!(c["fix"].as_str().unwrap().contains("chmod 600"), "{c:#}");
    ok(&h.cmd(&["uninstall", "envy"]));
}
