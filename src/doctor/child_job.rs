//! `doctor`'s `child-job` check (issue 22 item 10): the program runs inside a Job
//! Object, so it cannot outlive its supervisor. A token spawn creates it in its job
//! (PROC_THREAD_ATTRIBUTE_JOB_LIST, Windows 10 1607+) or suspends, assigns and resumes
//! it; which one a machine takes is decided by `run_as::spawn::job_placement`, and this
//! check shows on a real machine that either way the program ended up in a job.
//! The verdict is pure and table-tested everywhere; the look is `crate::os`'s.

use super::Check;

const ID: &str = "child-job";

/// `child`: the running program's pid as the state records it, if it is that process
/// still (start time checked); `in_job`: whether it runs in a Job Object (`None`: it
/// could not be asked).
pub fn verdict(service: &str, child: Option<u32>, in_job: Option<bool>) -> Check {
    match (child, in_job) {
        (None, _) => Check::skip(ID, "not checked: the program is not running"),
        (Some(pid), None) => Check::skip(
            ID,
            format!("not checked: cannot ask whether pid {pid} runs in a Job Object (run doctor elevated)"),
        ),
        (Some(pid), Some(true)) => Check::ok(
            ID,
            format!("the program (pid {pid}) runs in a Job Object: it cannot outlive its supervisor"),
        ),
        (Some(pid), Some(false)) => Check::fail(
            ID,
            format!(
                "the program (pid {pid}) runs outside any Job Object: if its supervisor dies, it keeps running unsupervised"
            ),
            format!(
                "restart it (`respawn restart {service}`); if this persists, report it with `respawn logs {service}` and your Windows version (`winver`)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_outside_any_job_fails() {
        let status = |c: &Check| serde_json::to_value(c).unwrap()["status"].clone();
        assert_eq!(status(&verdict("gw", None, None)), "skip");
        assert_eq!(status(&verdict("gw", None, Some(false))), "skip");
        assert_eq!(status(&verdict("gw", Some(7), None)), "skip");
        assert_eq!(status(&verdict("gw", Some(7), Some(true))), "ok");
        let fail = verdict("gw", Some(7), Some(false));
        assert_eq!(status(&fail), "fail");
        let text = serde_json::to_value(&fail).unwrap().to_string();
        assert!(
            text.contains("pid 7") && text.contains("respawn restart gw"),
            "{text}"
        );
    }
}
