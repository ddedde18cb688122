//! What `doctor` says when it cannot read the Application event log (issue 22 item 8):
//! that log's DACL lets interactive, service and batch logons read it, with
//! Administrators and Event Log Readers, but not a network logon (ssh, WinRM), which
//! gets "access denied". Pure, table-tested everywhere; the read itself is
//! `crate::os::windows::eventlog`'s.

use crate::run_as::identity::Logon;

/// ERROR_ACCESS_DENIED.
const ACCESS_DENIED: i32 = 5;

/// The doctor line for a failed read of the Application log: `code` is the Windows
/// error (if any), `error` its text, `logon` how doctor's own process is logged on
/// (`None`: unknown). A network logon is told why and what to do instead of
/// "access denied".
pub fn unreadable(code: Option<i32>, error: &str, logon: Option<Logon>) -> String {
    match (code, logon) {
        // Network or batch as the token's groups tell it; a batch logon may read the
        // log, so a refusal there is a network logon's.
        (Some(ACCESS_DENIED), Some(Logon::S4u)) => {
            "not read: the Application event log is not readable from a network logon \
             (ssh, WinRM); run `respawn doctor` in a desktop session of this user, or from \
             an elevated prompt (or add this user to the Event Log Readers group)"
                .to_string()
        }
        (Some(ACCESS_DENIED), _) => {
            "not read: access to the Application event log is denied to this user; run \
             `respawn doctor` from an elevated prompt (or add this user to the Event Log \
             Readers group)"
                .to_string()
        }
        _ => format!("cannot read the Application event log: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_logon_is_told_why_the_event_log_is_closed_to_it() {
        // (code, logon) -> must contain, must not contain
        let table: &[(Option<i32>, Option<Logon>, &str, &str)] = &[
            (Some(5), Some(Logon::S4u), "network logon (ssh", "denied"),
            (
                Some(5),
                Some(Logon::Interactive),
                "elevated prompt",
                "network",
            ),
            (Some(5), None, "Event Log Readers", "network"),
            (
                Some(5),
                Some(Logon::Service),
                "denied to this user",
                "network",
            ),
            (Some(2), Some(Logon::S4u), "cannot read", "network"),
            (None, Some(Logon::S4u), "cannot read", "network"),
        ];
        for &(code, logon, has, lacks) in table {
            let said = unreadable(code, "the error's text", logon);
            assert!(said.contains(has), "{code:?} {logon:?}: {said}");
            assert!(!said.contains(lacks), "{code:?} {logon:?}: {said}");
        }
        assert!(unreadable(Some(2), "the error's text", None).contains("the error's text"));
    }
}
