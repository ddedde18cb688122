//! The decisions about the end of a user's session (issue 22), pure and table-tested
//! on every OS: where the recorded user is after a logoff (they may still be logged on
//! in another session), whether a session agent's "my session is ending" is believed,
//! and what the state file says after a stop at the session's end.

use crate::run_as::session::{pick_user_session, Context};

/// The desktop a child (and its helpers) started in `context` is given, as
/// STARTUPINFO's `lpDesktop` (issue 22, item 2): the user's own desktop in their
/// session; `""` for a service-for-user logon, which makes Windows create (or reuse)
/// the logon session's own invisible window station, as the SCM and Task Scheduler do
/// (NULL would inherit LocalSystem's `Service-0x0-3e7$\Default`, which the user's token
/// cannot open: user32 fails to initialise with 0xC0000142, and with it `import ssl`);
/// NULL (inherit the host's) only for LocalSystem itself.
pub fn desktop_for(context: Context) -> Option<&'static str> {
    match context {
        Context::Interactive(_) => Some(INTERACTIVE_DESKTOP),
        Context::S4u => Some(""),
        Context::System => None,
    }
}

/// The desktop of the user's interactive session.
pub const INTERACTIVE_DESKTOP: &str = "winsta0\\default";

/// The recorded user's session after the session `gone` ended (a logoff, or a session
/// whose end has begun): unchanged when it was not theirs; else the session they are
/// still logged on in, from a fresh look (`live`: their sessions as Windows lists them
/// now, `console`: the console's), never `gone` itself (Windows may still list a
/// session that is going away) nor one whose end has begun (`ending`).
pub fn session_after_end(
    before: Option<u32>,
    gone: u32,
    console: Option<u32>,
    live: &[u32],
    ending: Option<u32>,
) -> Option<u32> {
    if before != Some(gone) {
        return before;
    }
    let left: Vec<u32> = live
        .iter()
        .copied()
        .filter(|&s| s != gone && Some(s) != ending)
        .collect();
    pick_user_session(console, &left)
}

/// Who sent "my session is ending" to the host, read off the pipe client's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimant<'a> {
    pub sid: &'a str,
    pub session: u32,
}

/// Whether the host believes a session agent's "my session is ending": only from the
/// recorded user, and only about the session the program runs in. The claim lets
/// nobody do more than the user can by logging off (their own program moves to the
/// logged-off plan), and nobody else can make it. `Ok`: the session that ends.
pub fn believe_session_end(
    claimant: &Claimant,
    account_sid: &str,
    user_session: Option<u32>,
) -> Result<u32, String> {
    if claimant.sid != account_sid {
        return Err(format!(
            "refused: the request came from {}, not from the service's user {account_sid}",
            claimant.sid
        ));
    }
    match user_session {
        Some(s) if s == claimant.session => Ok(s),
        Some(s) => Err(format!(
            "refused: the request came from session {}, the program runs in session {s}",
            claimant.session
        )),
        None => Err("refused: the program does not run in the user's session".to_string()),
    }
}

/// What an exit the host did not ask for (a crash, a kill) counts as (issue 22).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCount {
    /// Decided by the restart policy, as any exit (a failure unless its exit code
    /// says otherwise).
    ByPolicy,
    /// The end of the session the child ran in: a planned stop, never a failure; the
    /// child moves to the logged-off plan (S4U or waiting).
    SessionEnd,
    /// Not known yet: the child ran in the user's session, which may be ending without
    /// the host having heard so. At a logoff (and before every restart or shutdown)
    /// Windows may end the session's processes before the session agent's "my session
    /// is ending" (or the SCM's logoff) reaches the host, so the host waits up to
    /// [`SESSION_END_GRACE`] after the exit for either before counting it.
    AwaitSessionEnd,
}

/// How long after an unplanned exit in the user's session the host waits for word
/// that the session is ending before it counts the exit as a failure. The word is an
/// event (the agent's line on the pipe, the SCM's session change) that ends the wait
/// at once; the bound only delays the restart of a child that crashed by itself, and
/// the backoff's own delay runs meanwhile.
pub const SESSION_END_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// What an unplanned exit counts as: `ran_in`, where the child ran; `user_session`,
/// the session the host now knows the recorded user in; `ending`, a session whose end
/// an agent announced; `grace_left`, whether [`SESSION_END_GRACE`] since the exit is
/// still running; `asked_restart`, whether the program's exit code asks for a planned
/// restart (`force_restart_exit_codes`: that restart is never held back). Only a child
/// in the user's session can be ended by its end: one through S4U (session 0) or as
/// LocalSystem outlives every logoff.
pub fn count_unplanned_exit(
    ran_in: Option<Context>,
    user_session: Option<u32>,
    ending: Option<u32>,
    grace_left: bool,
    asked_restart: bool,
) -> ExitCount {
    let Some(Context::Interactive(session)) = ran_in else {
        return ExitCount::ByPolicy;
    };
    if ending == Some(session) || user_session != Some(session) {
        ExitCount::SessionEnd
    } else if grace_left && !asked_restart {
        ExitCount::AwaitSessionEnd
    } else {
        ExitCount::ByPolicy
    }
}

/// What the log says of an exit that came with the end of the session it ran in.
pub fn exit_at_session_end(exit: &str) -> String {
    format!(
        "the child ended with {exit} as the user's session ended (Windows ended it before its \
         graceful stop): planned, not counted as a failure"
    )
}

/// What the state file and the log say after a per-user supervisor stopped its child
/// because the session ends (`logoff`: only the user's session; else Windows itself
/// is shutting down or restarting).
pub fn session_end_reason(logoff: bool) -> String {
    let what = if logoff {
        "the user's session ended (logoff)"
    } else {
        "the session ended (logoff, restart or shutdown)"
    };
    format!("{what}: stopped gracefully (planned); it starts again at the next logon")
}

/// The text Windows shows while the session waits for the program's graceful stop.
pub fn block_reason(service: &str) -> String {
    format!("stopping {service} gracefully")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (before, gone, console, live, ending) -> after
    type Row = (
        Option<u32>,
        u32,
        Option<u32>,
        &'static [u32],
        Option<u32>,
        Option<u32>,
    );

    #[test]
    fn the_session_after_one_ends() {
        // (before, gone, console, live, ending) -> after
        let table: &[Row] = &[
            // Not the user's session: nothing moves.
            (Some(1), 2, Some(1), &[1], None, Some(1)),
            (None, 2, Some(1), &[], None, None),
            // Their only session: logged off (Windows may still list it).
            (Some(1), 1, Some(1), &[1], None, None),
            (Some(1), 1, Some(1), &[], None, None),
            // Still logged on over RDP in session 3: move there.
            (Some(1), 1, Some(1), &[1, 3], None, Some(3)),
            (Some(3), 3, Some(1), &[1, 3], None, Some(1)),
            // Two others left: the console's if it is theirs, else the lowest.
            (Some(2), 2, Some(5), &[2, 5, 4], None, Some(5)),
            (Some(2), 2, Some(9), &[2, 5, 4], None, Some(4)),
            // A session whose end has begun is no place to go.
            (Some(1), 1, Some(3), &[1, 3], Some(3), None),
            (Some(1), 1, None, &[1, 3, 4], Some(3), Some(4)),
        ];
        for &(before, gone, console, live, ending, after) in table {
            assert_eq!(
                session_after_end(before, gone, console, live, ending),
                after,
                "{before:?} {gone} {console:?} {live:?} {ending:?}"
            );
        }
    }

    #[test]
    fn an_exit_within_the_sessions_end_is_never_a_failure() {
        use ExitCount::*;
        let i = Context::Interactive;
        // (ran_in, user_session, ending, grace_left) -> count; the exit code asks for
        // no restart of its own.
        let table = [
            // Through S4U or as LocalSystem: no logoff ends it; a crash is a crash.
            (Some(Context::S4u), None, None, true, ByPolicy),
            (Some(Context::S4u), Some(1), Some(1), true, ByPolicy),
            (Some(Context::System), Some(1), Some(1), true, ByPolicy),
            (None, Some(1), Some(1), true, ByPolicy),
            // In the user's session 1, and the agent said it ends (before or after).
            (Some(i(1)), None, Some(1), true, SessionEnd),
            (Some(i(1)), None, Some(1), false, SessionEnd),
            // The SCM's logoff moved the user away (or to their other session 3).
            (Some(i(1)), None, None, true, SessionEnd),
            (Some(i(1)), Some(3), None, false, SessionEnd),
            // Another session's end is not this child's.
            (Some(i(1)), Some(1), Some(3), false, ByPolicy),
            // Nothing heard yet: wait for the word while the grace runs, then count.
            (Some(i(1)), Some(1), None, true, AwaitSessionEnd),
            (Some(i(1)), Some(1), Some(3), true, AwaitSessionEnd),
            (Some(i(1)), Some(1), None, false, ByPolicy),
        ];
        for (ran_in, user_session, ending, grace_left, want) in table {
            assert_eq!(
                count_unplanned_exit(ran_in, user_session, ending, grace_left, false),
                want,
                "{ran_in:?} {user_session:?} {ending:?} {grace_left}"
            );
        }
        // An exit code that asks for a planned restart (75) is never held back; at the
        // session's end it is still the session's end.
        assert_eq!(
            count_unplanned_exit(Some(i(1)), Some(1), None, true, true),
            ByPolicy
        );
        assert_eq!(
            count_unplanned_exit(Some(i(1)), None, Some(1), true, true),
            SessionEnd
        );
        assert!(exit_at_session_end("exit code 1").contains("not counted as a failure"));
    }

    #[test]
    fn only_the_user_in_the_programs_session_may_end_it() {
        let ann = "S-1-5-21-1-1-1-1001";
        let bob = "S-1-5-21-1-1-1-1002";
        let claim = |sid, session| Claimant { sid, session };
        assert_eq!(believe_session_end(&claim(ann, 2), ann, Some(2)), Ok(2));
        // Another user (another session's agent, or anyone who can open the pipe).
        assert!(believe_session_end(&claim(bob, 2), ann, Some(2))
            .unwrap_err()
            .contains(bob));
        // The user's other session: the program is not there.
        assert!(believe_session_end(&claim(ann, 3), ann, Some(2))
            .unwrap_err()
            .contains("session 3"));
        // Logged off already (S4U or waiting): nothing to end.
        assert!(believe_session_end(&claim(ann, 2), ann, None).is_err());
    }

    #[test]
    fn a_logged_off_child_gets_its_own_window_station() {
        assert_eq!(
            desktop_for(Context::Interactive(2)),
            Some("winsta0\\default")
        );
        assert_eq!(desktop_for(Context::S4u), Some(""), "never LocalSystem's");
        assert_eq!(desktop_for(Context::System), None);
    }

    #[test]
    fn the_reason_says_planned_and_when_it_comes_back() {
        for logoff in [true, false] {
            let r = session_end_reason(logoff);
            assert!(r.contains("planned") && r.contains("next logon"), "{r}");
        }
        assert!(session_end_reason(true).contains("logoff"));
        assert_eq!(block_reason("gw"), "stopping gw gracefully");
    }
}
