//! Issue 24: with `backoff = ["0s"]` the new child is forked first, and the old
//! child's bookkeeping (the sweep for escaped descendants, what is left of its
//! output, the log lines, the state file's tidying) follows the fork. These tests hold
//! what must not change with that order: the old child's last output is logged
//! before the new start, what escaped the old tree is killed, the new child's own
//! tree never is, and the state file's temp files don't pile up. No timings: the
//! figures are in bench/restart.sh.
#![cfg(target_os = "linux")]

use crate::common::*;
use std::path::Path;
use std::time::Duration;

/// Pids listed one per line in `file` (appended by the children).
fn pids_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The state folder's temp files (`.state.json.XXXXXX`).
fn state_temps(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".state.json."))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn an_immediate_restart_logs_the_old_childs_last_output_before_the_new_start() {
    let h = Harness::new();
    // Lives past the quick-exit floor, so the restart is immediate; its last words
    // come just before its exit.
    let script = "echo first-$$; sleep 1.1; echo last-$$; echo err-$$ >&2; exit 3";
    let spec = h.spec(
        "s.toml",
        &format!("name = \"rn1\"\ncommand = \"sh\"\nargs = [\"-c\", {script:?}]\n[restart]\nbackoff = [\"0s\"]\n"),
    );
    let mut sup = h.run(&spec);
    let dir = h.service_dir("rn1");
    let s = h.wait_state("rn1", "three immediate restarts", |s| {
        s["restarts"].as_u64() >= Some(3) && s["state"] == "running"
    });
    assert!(state_temps(&dir) <= 2, "temp files pile up");
    assert!(
        wait_for("the last exit's output drained", || h
            .state("rn1")
            .is_some_and(|s| s["output_drained"] == true)),
        "{s}"
    );
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    assert_eq!(state_temps(&dir), 0, "temp files left after a stop");
    let log = h.log("rn1");
    let lines: Vec<&str> = log.lines().collect();
    let started: Vec<(usize, u32)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| Some((i, l.split("started `sh` as pid ").nth(1)?.parse().ok()?)))
        .collect();
    assert!(started.len() >= 4, "{log}");
    // Every run but the last (stopped while it slept): all of its output, and the
    // supervisor's line on its end, between its own start and the next one.
    for pair in started.windows(2) {
        let ((from, pid), (to, _)) = (pair[0], pair[1]);
        let run = &lines[from..to];
        for want in [
            format!("first-{pid}"),
            format!("last-{pid}"),
            format!("err-{pid}"),
        ] {
            assert!(
                run.contains(&want.as_str()),
                "{want} not in its own run:\n{log}"
            );
        }
        assert!(
            run.last()
                .is_some_and(|l| l.contains("child ended with exit code 3")
                    && l.ends_with("starting again in 0s")),
            "the end of the run of {pid} is not its last line before the next start:\n{log}"
        );
    }
}

#[test]
fn an_immediate_restart_kills_what_escaped_the_old_tree_and_never_the_new_one() {
    let h = Harness::new();
    let early = h.path("early");
    let early_done = h.path("early-done");
    let late = h.path("late");
    // Each run starts: a process that leaves the group at once and ends by itself
    // (its parent subshell exits, so it is the supervisor's child from the start:
    // the previous run's sweep must leave it alone); and a group member that waits
    // on a process that left the group, which becomes the supervisor's child only
    // when the group is killed at the exit (the sweep after the fork must kill it).
    let script = format!(
        "(setsid sh -c 'echo $$ >> {early}; sleep 0.6; echo $$ >> {done}' &); \
         sh -c 'setsid sh -c \"echo \\$\\$ >> {late}; exec sleep 99241\" & wait' & \
         sleep 1.2; exit 1",
        early = early.display(),
        done = early_done.display(),
        late = late.display()
    );
    let spec = h.spec(
        "s.toml",
        &format!("name = \"rn2\"\ncommand = \"sh\"\nargs = [\"-c\", {script:?}]\n[restart]\nbackoff = [\"0s\"]\n"),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("rn2", "four immediate restarts", |s| {
        s["restarts"].as_u64() >= Some(4) && s["state"] == "running"
    });
    let child = s["child_pid"].as_u64().unwrap() as u32;
    // Let the current run's early process finish its own life.
    std::thread::sleep(Duration::from_millis(900));
    assert!(alive(child), "the current child was killed");
    let lates = pids_in(&late);
    assert!(lates.len() >= 4, "{lates:?}");
    // The old runs' escaped processes are gone; the current run's is alive.
    let (current, old) = lates.split_last().unwrap();
    assert!(
        wait_for("the old runs' escaped processes killed", || old
            .iter()
            .all(|p| !alive(*p))),
        "alive: {:?}",
        old.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
    assert!(alive(*current), "the current run's process was killed");
    // No run's early process was taken for the previous tree's.
    let (started, done) = (pids_in(&early), pids_in(&early_done));
    assert!(started.len() >= 4, "{started:?}");
    let killed: Vec<_> = started.iter().filter(|p| !done.contains(p)).collect();
    assert!(
        killed.is_empty(),
        "killed by a sweep: {killed:?} (log: {})",
        h.log("rn2")
    );
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    assert!(wait_for("nothing left", || !alive(*current)));
}
