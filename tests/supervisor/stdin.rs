//! The child's stdin is a pipe the supervisor holds open: a child that reads stdin does
//! not see end-of-file while it runs (with /dev/null it would at once). On Unix the stop
//! signal stays the graceful step.
#![cfg(unix)]

use crate::common::*;

#[test]
fn a_child_reading_stdin_sees_no_end_of_file_while_it_runs() {
    let h = Harness::new();
    // `timeout 1 cat` ends with 124 while stdin stays open, 0 at end-of-file.
    let spec = h.spec(
        "s.toml",
        "name = \"in\"\ncommand = \"sh\"\nargs = [\"-c\", \"timeout 1 cat; echo cat-exit:$?; exec sleep 1000\"]\n",
    );
    let mut sup = h.run(&spec);
    let child = h.wait_running("in");
    assert!(
        wait_for("the child's verdict", || h.log("in").contains("cat-exit:")),
        "{}",
        h.log("in")
    );
    assert!(h.log("in").contains("cat-exit:124"), "{}", h.log("in"));
    let s = h.state("in").unwrap();
    assert_eq!(
        (s["child_pid"].as_u64(), s["restarts"].as_u64()),
        (Some(u64::from(child)), Some(0))
    );
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    // The signal, not end-of-file, stopped it.
    assert_eq!(h.state("in").unwrap()["last_exit"]["signal"], 15);
}
