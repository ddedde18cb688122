//! What a supervisor keeps resident (issue 24, memory). Linux: respawn gives back the
//! pages of its own program once a start is done with them (`os::shed`), after every
//! start: the restart path brings ~1 MiB of code back in, which would otherwise stay
//! charged to the supervisor for as long as it lives.
#![cfg(target_os = "linux")]

use crate::common::*;
use nix::sys::signal::Signal;

/// Resident KiB of the supervisor's executable mappings of its own program.
fn own_code_kib(pid: u32) -> u64 {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut ours = false;
    let mut kib = 0;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields
            .first()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            ours = fields.get(1).is_some_and(|p| p.contains('x'))
                && fields
                    .get(5)
                    .is_some_and(|p| std::path::Path::new(p) == exe);
        } else if ours && fields.first() == Some(&"Rss:") {
            kib += fields[1].parse::<u64>().unwrap();
        }
    }
    kib
}

#[test]
fn restarts_leave_no_more_of_respawns_code_resident_than_the_first_start() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"mem\"\ncommand = \"sleep\"\nargs = [\"1000\"]\n[restart]\nbackoff = [\"0ms\"]\n",
    );
    let mut sup = h.run(&spec);
    let sup_pid = sup.id();
    let mut child = h.wait_running("mem");
    // After the first start its pages were given back: what stays is the idle loop's
    // A moment for that; read before it, the bound below is only looser.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let first = own_code_kib(sup_pid);
    for _ in 0..5 {
        signal(child, Signal::SIGKILL);
        child = h.wait_new_child("mem", child)["child_pid"]
            .as_u64()
            .unwrap() as u32;
    }
    let mut now = 0;
    let back = wait_for("the restart path's pages given back", || {
        now = own_code_kib(sup_pid);
        now <= first + first / 4
    });
    assert!(
        back,
        "after 5 restarts {now} KiB of respawn's code is resident, {first} KiB after the first start (the restart path's code stayed)"
    );
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
}
