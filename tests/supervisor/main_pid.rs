//! `pid_file`: the program's real pid when the child respawn starts is a launcher
//! (pip's `hermes.exe` on Windows). Mimics Hermes with shell scripts: a launcher that
//! waits for a "gateway" grandchild, which writes its own pid file and exits 0 only
//! for a stop marker naming its own pid.
#![cfg(unix)]

use crate::common::*;
use nix::sys::signal::Signal;
use std::path::Path;

const GATEWAY: &str = r#"home="$1"
sleep 0.3   # the pid file comes a little after the start, as with a real program
printf '{"pid": %s, "kind": "test-gateway"}' $$ > "$home/gateway.pid.tmp"
mv "$home/gateway.pid.tmp" "$home/gateway.pid"
while :; do
  if [ -f "$home/stop.json" ]; then
    target=$(sed -n 's/.*"target_pid": *\([0-9]*\).*/\1/p' "$home/stop.json")
    rm -f "$home/stop.json"
    if [ "$target" = "$$" ]; then echo "gateway $$: stop marker for me"; exit 0; fi
    echo "gateway $$: ignoring a marker for pid $target"
  fi
  sleep 0.05
done
"#;

/// Like pip's launcher: start the real program, wait for it, pass its exit code on.
const LAUNCHER: &str = r#"sh "$(dirname "$0")/gateway.sh" "$1" &
wait $!
exit $?
"#;

fn spec(h: &Harness, name: &str, home: &Path, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(h.path("gateway.sh"), GATEWAY).unwrap();
    std::fs::write(h.path("launcher.sh"), LAUNCHER).unwrap();
    h.spec(
        &format!("{name}.toml"),
        &format!(
            r#"name = "{name}"
command = "sh"
args = [{launcher:?}, {home:?}]
{extra}
[stop]
method = "file"
file = {marker:?}
contents = '{{"target_pid": {{pid}}, "stopper_pid": {{supervisor_pid}}}}'
timeout = "60s"
"#,
            launcher = h.path("launcher.sh").display().to_string(),
            home = home.display().to_string(),
            marker = home.join("stop.json").display().to_string(),
        ),
    )
}

#[test]
fn stop_marker_names_the_pid_from_the_pid_file_and_the_program_exits_0() {
    let h = Harness::new();
    let home = h.path("home");
    let pid_file = home.join("gateway.pid");
    let spec = spec(
        &h,
        "mp",
        &home,
        &format!("pid_file = {:?}", pid_file.display().to_string()),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("mp", "the main pid from the pid file", |s| {
        s["main_pid"].is_u64()
    });
    let child = s["child_pid"].as_u64().unwrap();
    let main = s["main_pid"].as_u64().unwrap();
    assert_ne!(
        main, child,
        "the gateway is the launcher's child, not the child"
    );
    assert!(s["main_start_token"].is_u64());

    let out = h.cmd(&["status", "--json", "mp"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["main_pid"], main, "{status}");
    assert_eq!(status["child_pid"], child, "{status}");

    // Graceful stop through the launcher: the marker names the gateway, which exits
    // 0, and so does the launcher: no wait for the 60 s timeout, no kill.
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    let s = h.state("mp").unwrap();
    assert_eq!(s["last_exit"]["code"], 0, "{s:#}");
    assert!(
        s.get("main_pid").is_none(),
        "no main pid once stopped: {s:#}"
    );
    let log = h.log("mp");
    assert!(
        log.contains(&format!("gateway {main}: stop marker for me")),
        "{log}"
    );
    assert!(!log.contains("did not stop within"), "{log}");
}

#[test]
fn a_pid_file_naming_a_process_outside_the_group_is_refused() {
    let h = Harness::new();
    let home = h.path("home");
    std::fs::create_dir_all(&home).unwrap();
    // A stale pid file, naming a live process that is not in the child's group: us.
    let pid_file = home.join("other.pid");
    std::fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();
    let spec = spec(
        &h,
        "mq",
        &home,
        &format!("pid_file = {:?}", pid_file.display().to_string()),
    );
    let mut sup = h.run(&spec);
    let child = h.wait_running("mq");
    assert!(
        wait_for("the refusal in the log", || h
            .log("mq")
            .contains("not in the child's process group")),
        "{}",
        h.log("mq")
    );
    assert!(h.state("mq").unwrap().get("main_pid").is_none());

    // The stop marker names the child (the launcher), not the refused pid: the
    // gateway ignores it, and the tree is killed after the timeout. Cut it short
    // with a second stop request.
    signal(sup.id(), Signal::SIGTERM);
    assert!(wait_for("the launcher's marker to be seen", || h
        .log("mq")
        .contains(&format!("ignoring a marker for pid {child}"))));
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    assert!(!h
        .log("mq")
        .contains(&format!("marker for pid {}", std::process::id())));
}
