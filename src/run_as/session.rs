//! Run time on Windows: which token and which session the program starts in (the
//! user's own session while they are logged on, a service-for-user logon or waiting
//! while they are not), and how logon and logoff events move it.

use super::identity::Logon;
use crate::spec::service::{RunAs, ServiceSettings, WhenLoggedOff};

// ---- run time: which token, which session ----

/// Where the child runs (or should run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// In the user's logon session `n`, with the token from WTSQueryUserToken(n), on
    /// `winsta0\default`: Credential Manager, DPAPI and GUI helpers work.
    Interactive(u32),
    /// A service-for-user logon in session 0.
    S4u,
    /// LocalSystem, session 0.
    System,
}

impl Context {
    /// The `logon` of `status --json` a child started in this context shows.
    pub fn logon(self) -> Logon {
        match self {
            Context::Interactive(_) => Logon::Interactive,
            Context::S4u => Logon::S4u,
            Context::System => Logon::System,
        }
    }

    /// The Windows session the child's token carries.
    pub fn session(self) -> u32 {
        match self {
            Context::Interactive(n) => n,
            Context::S4u | Context::System => 0,
        }
    }
}

/// What the host is told by the SCM (SERVICE_CONTROL_SESSIONCHANGE), reduced to what
/// matters: did *our* user log on or off, and in which session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    None,
    /// WTS_SESSION_LOGON of the recorded user in this session.
    Logon(u32),
    /// WTS_SESSION_LOGOFF of this session (whoever it was).
    Logoff(u32),
}

/// WTS_SESSION_LOGON and WTS_SESSION_LOGOFF: the `dwEventType` of a
/// SERVICE_CONTROL_SESSIONCHANGE. The other reasons (connect, disconnect, lock,
/// unlock, remote control) leave the user's token and session as they are.
pub const WTS_SESSION_LOGON: u32 = 5;
pub const WTS_SESSION_LOGOFF: u32 = 6;

/// A SERVICE_CONTROL_SESSIONCHANGE, reduced to what `on_event` needs. `session_user`
/// is the SID of the user of that session (looked up by the host at a logon); a logon
/// by someone else is no event for us.
pub fn session_event(
    reason: u32,
    session: u32,
    session_user: Option<&str>,
    our_user: &str,
) -> SessionEvent {
    match reason {
        WTS_SESSION_LOGON if session_user == Some(our_user) => SessionEvent::Logon(session),
        WTS_SESSION_LOGOFF => SessionEvent::Logoff(session),
        _ => SessionEvent::None,
    }
}

/// The recorded user's session after an event, from the one known before it.
pub fn user_session_after(before: Option<u32>, event: SessionEvent) -> Option<u32> {
    match event {
        SessionEvent::None => before,
        // A second logon of the same user keeps the first session: no restart storm.
        SessionEvent::Logon(n) => before.or(Some(n)),
        SessionEvent::Logoff(n) if before == Some(n) => None,
        SessionEvent::Logoff(_) => before,
    }
}

/// Of the sessions where the recorded user is logged on, the one to run in: the
/// console's when it is one of them (that is where the user sits), else the lowest.
pub fn pick_user_session(console: Option<u32>, user_sessions: &[u32]) -> Option<u32> {
    match console {
        Some(c) if user_sessions.contains(&c) => Some(c),
        _ => user_sessions.iter().copied().min(),
    }
}

/// What the host does about the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Where the child should run; `None`: keep it stopped (waiting for a logon).
    pub target: Option<Context>,
    /// Stop the running child gracefully and start it in `target`: a planned restart,
    /// not counted as a failure, shown in status and logs.
    pub planned_restart: bool,
}

/// The decision table: from the settings, where the user is logged on and where the
/// child runs now, to where it should run.
pub fn plan(
    settings: ServiceSettings,
    user_session: Option<u32>,
    running: Option<Context>,
) -> Plan {
    let target = match (settings.windows_service_run_as(), user_session) {
        (RunAs::System, _) => Some(Context::System),
        (RunAs::User, Some(n)) => Some(Context::Interactive(n)),
        (RunAs::User, None) => match settings.when_logged_off {
            WhenLoggedOff::Run => Some(Context::S4u),
            WhenLoggedOff::Wait => None,
        },
    };
    Plan {
        target,
        planned_restart: running.is_some() && running != target,
    }
}

/// One step of the host's loop: an event arrives, the user's session moves, and the
/// child follows. Returns the new session and the plan.
pub fn on_event(
    settings: ServiceSettings,
    user_session: Option<u32>,
    event: SessionEvent,
    running: Option<Context>,
) -> (Option<u32>, Plan) {
    let after = user_session_after(user_session, event);
    (after, plan(settings, after, running))
}
