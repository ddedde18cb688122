//! How much CPU and memory a child's tree uses, read from the OS's own accounting
//! (Linux: /proc), never by asking the child. Elsewhere: not yet (`None`).

/// One reading of a process tree: the child and everything below it (by parent, and
/// by the child's process group, so a daemon that re-parented itself still counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeUsage {
    /// CPU time used so far by the processes alive now (user + system), in ms.
    pub cpu_ms: u64,
    /// Resident memory of those processes, in bytes (shared pages count in each).
    pub memory_bytes: u64,
    pub processes: u32,
}

/// The tree under `root` now; `None` when it is gone or this OS has no reader yet.
#[cfg(target_os = "linux")]
pub fn tree_usage(root: u32) -> Option<TreeUsage> {
    // /proc counts CPU time in USER_HZ, 100 per second on every Linux ABI.
    const TICK_MS: u64 = 10;
    let all: Vec<Stat> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect();
    all.iter().find(|s| s.pid == root)?;
    let mut members = vec![root];
    let mut i = 0;
    while i < members.len() {
        let parent = members[i];
        for s in &all {
            if (s.ppid == parent || s.pgid == root) && !members.contains(&s.pid) {
                members.push(s.pid);
            }
        }
        i += 1;
    }
    let mut usage = TreeUsage::default();
    for s in all.iter().filter(|s| members.contains(&s.pid)) {
        usage.cpu_ms += (s.utime + s.stime) * TICK_MS;
        usage.memory_bytes += rss_bytes(s.pid).unwrap_or(0);
        usage.processes += 1;
    }
    Some(usage)
}

#[cfg(not(target_os = "linux"))]
pub fn tree_usage(_root: u32) -> Option<TreeUsage> {
    None
}

#[cfg(target_os = "linux")]
struct Stat {
    pid: u32,
    ppid: u32,
    pgid: u32,
    utime: u64,
    stime: u64,
}

/// `VmRSS` of /proc/PID/status, in bytes (none for a zombie or a kernel thread).
#[cfg(target_os = "linux")]
fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// /proc/PID/stat, the fields after the command name (which may hold spaces).
#[cfg(target_os = "linux")]
fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

#[cfg(target_os = "linux")]
fn parse_stat(pid: u32, text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some(Stat {
        pid,
        ppid: num(1)? as u32,
        pgid: num(2)? as u32,
        utime: num(11)?,
        stime: num(12)?,
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_a_name_with_spaces() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 1000000 250 18446744073709551615";
        let s = parse_stat(42, line).unwrap();
        assert_eq!((s.ppid, s.pgid, s.utime, s.stime), (1, 42, 7, 3));
    }

    #[test]
    fn our_own_tree_uses_some_memory() {
        let me = tree_usage(std::process::id()).unwrap();
        assert!(me.processes >= 1 && me.memory_bytes > 0, "{me:?}");
        assert_eq!(tree_usage(u32::MAX), None);
    }
}
