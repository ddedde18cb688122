//! Test helper that behaves like the Hermes gateway's stop contract: writes its own pid
//! to `<home>/gateway.pid` (JSON, field `pid`), then exits 0 only for a stop marker
//! `<home>/.gateway-planned-stop.json` whose `target_pid` is its own pid; any other
//! marker is deleted and ignored. `<home>` is the last argument (pip's launcher puts
//! its own path first). Used under pip's real launcher in tests/windows/proc.rs.
//!
//! Placed as a venv's `Scripts\python.exe` (a `pyvenv.cfg` with `home = DIR` one
//! folder up), it first acts as the venv redirector does on Windows: starts
//! `DIR\<its own file name>` with the same arguments, waits, and exits with its code.

use std::path::PathBuf;
use std::time::Duration;

fn main() {
    redirect_like_a_venv();
    let home = PathBuf::from(
        std::env::args()
            .next_back()
            .expect("usage: pidfile_gateway HOME"),
    );
    let me = std::process::id();
    let tmp = home.join("gateway.pid.tmp");
    std::fs::write(
        &tmp,
        format!("{{\"pid\": {me}, \"kind\": \"test-gateway\"}}"),
    )
    .unwrap();
    std::fs::rename(&tmp, home.join("gateway.pid")).unwrap();
    println!("gateway {me}: running");
    let marker = home.join(".gateway-planned-stop.json");
    loop {
        if let Ok(text) = std::fs::read_to_string(&marker) {
            let _ = std::fs::remove_file(&marker);
            let target = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["target_pid"].as_u64());
            if target == Some(u64::from(me)) {
                println!("gateway {me}: stop marker for me");
                std::process::exit(0);
            }
            println!("gateway {me}: ignoring a marker for pid {target:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The venv redirector's hop: run the base interpreter named by `pyvenv.cfg`.
fn redirect_like_a_venv() {
    let exe = std::env::current_exe().expect("own path");
    let Some(cfg) = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("pyvenv.cfg"))
    else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(cfg) else {
        return;
    };
    let Some(home) = text.lines().find_map(|l| l.strip_prefix("home = ")) else {
        return;
    };
    let base = PathBuf::from(home.trim()).join(exe.file_name().expect("file name"));
    let status = std::process::Command::new(&base)
        .args(std::env::args_os().skip(1))
        .status()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", base.display()));
    std::process::exit(status.code().unwrap_or(1));
}
