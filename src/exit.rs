//! respawn's exit codes, in one place. Status codes follow `systemctl status`
//! (0 running, 3 not running, 4 unknown), so scripts written for systemd read ours too.

/// How a respawn command ends, as the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done; for `status`, the service runs.
    Success = 0,
    /// Something failed (an OS call, a service manager, a doctor check).
    Failure = 1,
    /// Bad input: a spec that can't be used, a bad argument.
    BadInput = 2,
    /// `status`: installed (or known) but not running.
    NotRunning = 3,
    /// `status`, `logs`, `doctor NAME`: no such service.
    NotInstalled = 4,
    /// A supervisor could not write its state file (full disk, a read-only or vanished
    /// state dir), so it stopped its child and itself: a state nobody can read would
    /// make `status` and `stop` lie. EX_CANTCREAT.
    StateUnwritable = 73,
    /// A supervisor stayed down because the policy gave up (a prevent-restart exit
    /// code, or too many restarts): EX_CONFIG, so service managers told not to
    /// restart on it (systemd's RestartPreventExitStatus) leave it down.
    GaveUp = 78,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [
            (ExitStatus::Success, 0),
            (ExitStatus::Failure, 1),
            (ExitStatus::BadInput, 2),
            (ExitStatus::NotRunning, 3),
            (ExitStatus::NotInstalled, 4),
            (ExitStatus::StateUnwritable, 73),
            (ExitStatus::GaveUp, 78),
        ];
        for (status, code) in all {
            assert_eq!(status.code(), code);
        }
    }
}
