//! The service host's side of issue 15: the program runs as the user recorded at
//! install, in their session when they are logged on, through a service-for-user
//! logon (or not at all, `when_logged_off = "wait"`) when they are not, and it follows
//! them when they log on or off.
//!
//! The decisions are `crate::run_as`'s (table-tested everywhere); the calls are
//! `crate::os`'s. The supervisor engine asks a [`UserLauncher`] where and how to start
//! the child; the SCM's session-change controls update the shared [`Sessions`] and
//! wake the engine, which re-plans.

use crate::os::{self, ChildTree, OwnedCommand, UserCommand, UserToken, INTERACTIVE_DESKTOP};
use crate::run_as::session::{Context, Plan, SessionEvent};
use crate::run_as::session_end::{
    believe_session_end, count_unplanned_exit, desktop_for, session_after_end, Claimant, ExitCount,
    SESSION_END_GRACE,
};
use crate::run_as::spawn::load_profile_for;
use crate::run_as::{self, Account};
use crate::spec::service::ServiceSettings;
use crate::supervisor::session_end::AgentPlan;
use std::io;
use std::sync::{Arc, Mutex};

/// The plan at host start (or after a session change): where the recorded user is
/// logged on now, and so where the child should run.
pub fn plan_now(settings: ServiceSettings, account: &Account, running: Option<Context>) -> Plan {
    run_as::session::plan(settings, live_session(account), running)
}

/// The session the recorded user is logged on in now, as Windows lists it.
fn live_session(account: &Account) -> Option<u32> {
    let sessions = os::sessions_of(&account.sid);
    run_as::session::pick_user_session(os::console_session(), &sessions)
}

/// The token for a context: the session user's (WTSQueryUserToken), a service-for-user
/// logon, or the host's own (LocalSystem).
pub fn token_for(context: Context, account: &Account) -> io::Result<UserToken> {
    let token = match context {
        Context::Interactive(session) => UserToken::of_session(session)?,
        Context::S4u => UserToken::s4u(account)?,
        Context::System => return UserToken::own(),
    };
    // Never start the program as someone else than recorded.
    let got = token.identity()?.account;
    if got.sid != account.sid {
        return Err(io::Error::other(format!(
            "the token for {context:?} belongs to {} ({}), not to {} ({}); not starting the program",
            got.name, got.sid, account.name, account.sid
        )));
    }
    Ok(token)
}

/// The token command for `cmd` in `context`: on the user's desktop in their session,
/// on the logon session's own window station through S4U (`desktop_for`), with their
/// profile loaded by the host only when Windows has not (`load_profile_for`: S4U).
fn command_in(owned: &OwnedCommand, context: Context) -> UserCommand<'_> {
    owned.command(desktop_for(context), load_profile_for(context))
}

/// Start `cmd` (built by the engine exactly as for any other child) in `context` as
/// `account`: the user's environment block with the command's variables on top, the
/// user's profile loaded, on the user's desktop when in their session.
pub fn spawn(
    context: Context,
    account: &Account,
    cmd: &tokio::process::Command,
) -> io::Result<ChildTree> {
    start(context, account, cmd).map(|(child, _)| child)
}

/// [`spawn`], also giving the token the child was started with.
fn start(
    context: Context,
    account: &Account,
    cmd: &tokio::process::Command,
) -> io::Result<(ChildTree, UserToken)> {
    let token = token_for(context, account)?;
    let child = ChildTree::spawn_as_user(&token, &command_in(&OwnedCommand::of(cmd), context))?;
    Ok((child, token))
}

/// The recorded user's session as the host knows it: read from Windows at start, then
/// moved by the SCM's session-change controls (at a logoff Windows may still list the
/// session that is going away, so events are trusted over a fresh look) and by the
/// session agent's "my session is ending" (issue 22).
#[derive(Clone, Debug, Default)]
pub struct Sessions(Arc<Mutex<Known>>);

#[derive(Clone, Copy, Debug, Default)]
struct Known {
    current: Option<u32>,
    /// A session whose end has begun (its agent said so): no place to start the child.
    ending: Option<u32>,
}

impl Sessions {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self) -> Option<u32> {
        self.known().current
    }

    fn set(&self, session: Option<u32>) {
        self.known().current = session;
    }

    /// Apply an event; whether it changed where the user is. A logoff of their session
    /// looks again where they are still logged on (`live`: their sessions now).
    pub fn apply(&self, event: SessionEvent, live: impl FnOnce() -> Vec<u32>) -> bool {
        let mut k = self.known();
        let before = k.current;
        k.current = match event {
            SessionEvent::Logoff(gone) => {
                let live = if before == Some(gone) {
                    live()
                } else {
                    Vec::new()
                };
                let after = session_after_end(before, gone, os::console_session(), &live, k.ending);
                if k.ending == Some(gone) {
                    k.ending = None;
                }
                after
            }
            SessionEvent::Logon(_) => {
                k.ending = None;
                run_as::session::user_session_after(before, event)
            }
            SessionEvent::None => before,
        };
        k.current != before
    }

    /// The session agent of `session` says it is ending: the child leaves it (whether
    /// the host should plan again).
    fn ending(&self, session: u32, live: impl FnOnce() -> Vec<u32>) -> bool {
        let mut k = self.known();
        k.ending = Some(session);
        let before = k.current;
        k.current = session_after_end(before, session, os::console_session(), &live(), k.ending);
        k.current != before
    }

    /// The session's end was cancelled (another program refused): where the user is
    /// now, looked up again.
    fn continuing(&self, now: Option<u32>) -> bool {
        let mut k = self.known();
        k.ending = None;
        std::mem::replace(&mut k.current, now) != now
    }
}

/// A SERVICE_CONTROL_SESSIONCHANGE (`reason`, `session`) reduced to what matters for
/// `account`: a logon is ours only if that session's user is the recorded one.
pub fn session_event(reason: u32, session: u32, account: &Account) -> SessionEvent {
    let session_user = (reason == run_as::session::WTS_SESSION_LOGON)
        .then(|| UserToken::of_session(session).and_then(|t| t.identity()))
        .and_then(Result::ok)
        .map(|id| id.account.sid);
    run_as::session::session_event(reason, session, session_user.as_deref(), &account.sid)
}

/// The SCM's session-change control: apply it to `sessions`; whether the engine must
/// plan again (the recorded user's session moved).
pub fn session_changed(sessions: &Sessions, account: &Account, reason: u32, session: u32) -> bool {
    sessions.apply(session_event(reason, session, account), || {
        os::sessions_of(&account.sid)
    })
}

/// A line from a session agent on the host's pipe (issue 22), sent by the process
/// `client`: the reply, and whether the engine must plan again. Only the recorded
/// user in the session the program runs in is believed.
pub fn agent_says(
    sessions: &Sessions,
    account: &Account,
    client: u32,
    line: &str,
) -> (String, bool) {
    let who = match os::process_identity(client) {
        Ok(id) => id,
        Err(e) => {
            return (
                format!("error cannot read who sent the request: {e}"),
                false,
            )
        }
    };
    let claimant = Claimant {
        sid: &who.account.sid,
        session: who.session,
    };
    match line {
        crate::supervisor::session_end::ENDING => {
            match believe_session_end(&claimant, &account.sid, sessions.get()) {
                Ok(session) => {
                    let moved = sessions.ending(session, || os::sessions_of(&account.sid));
                    ("ok".to_string(), moved)
                }
                Err(why) => (format!("error {why}"), false),
            }
        }
        crate::supervisor::session_end::CONTINUING if claimant.sid == account.sid => {
            let moved = sessions.continuing(live_session(account));
            ("ok".to_string(), moved)
        }
        other => (format!("error unknown request `{other}`"), false),
    }
}

/// Serve the pipe the session agents talk to (issue 22), on the current tokio runtime:
/// "my session is ending" from the user's session moves the child out of it (through
/// `tx`) before Windows ends it; `log` hears each request and its answer.
pub fn listen_to_agents(
    sessions: Sessions,
    account: Account,
    tx: tokio::sync::mpsc::UnboundedSender<crate::supervisor::Control>,
    log: fn(&str),
) -> io::Result<()> {
    let sddl = crate::supervisor::session_end::pipe_sddl(&account.sid);
    os::serve_lines(
        crate::supervisor::session_end::pipe_name(std::process::id()),
        &sddl,
        move |client, line| {
            let (reply, moved) = agent_says(&sessions, &account, client, line);
            log(&format!(
                "session agent (pid {client}) says `{line}`: {reply}"
            ));
            if moved {
                let _ = tx.send(crate::supervisor::Control::SessionChanged);
            }
            reply
        },
    )
}

/// How the service host starts its child: as the recorded user, where the plan says.
pub struct UserLauncher {
    settings: ServiceSettings,
    account: Account,
    sessions: Sessions,
    /// Where the current child runs; `None` while none runs.
    running: Option<Context>,
    /// Where the last child ran, after it is gone: whether the end of its session
    /// can explain its exit.
    last_ran: Option<Context>,
    /// How long after an unplanned exit in the user's session word of the session's
    /// end is waited for ([`SESSION_END_GRACE`]).
    exit_grace: std::time::Duration,
    /// The token of the last child started: what the host acts with for the user's
    /// files (kept after the child ends, so a log line about its exit is written too).
    token: Arc<Mutex<Option<Arc<UserToken>>>>,
    /// How to start a session agent beside a child in the user's session (issue 22).
    agent_plan: Option<AgentPlan>,
    /// The running agent (in its own job: dropped, it ends). Kept after its child
    /// ends, so it can answer the session's end; replaced at the next start.
    agent: Option<ChildTree>,
    /// What the engine should log about the last start (an agent that did not start).
    note: Option<String>,
}

impl UserLauncher {
    /// A launcher for `account`, with the user's session read from Windows now.
    pub fn new(settings: ServiceSettings, account: Account) -> UserLauncher {
        let sessions = Sessions::default();
        sessions.set(live_session(&account));
        UserLauncher {
            settings,
            account,
            sessions,
            running: None,
            last_ran: None,
            exit_grace: SESSION_END_GRACE,
            token: Arc::default(),
            agent_plan: None,
            agent: None,
            note: None,
        }
    }

    /// Start a session agent beside every child in the user's session (issue 22).
    pub fn with_session_agent(mut self, plan: AgentPlan) -> UserLauncher {
        self.agent_plan = Some(plan);
        self
    }

    /// Wait `grace` instead of [`SESSION_END_GRACE`] for word of the session's end
    /// after an unplanned exit (a test on a loaded machine).
    pub fn with_exit_grace(mut self, grace: std::time::Duration) -> UserLauncher {
        self.exit_grace = grace;
        self
    }

    /// How long after an unplanned exit word of the session's end is waited for.
    pub fn exit_grace(&self) -> std::time::Duration {
        self.exit_grace
    }

    /// What the last child's unplanned exit counts as, with what the host knows of
    /// the user's sessions now (`grace_left`: [`UserLauncher::exit_grace`] since the
    /// exit has not passed; `asked_restart`: its exit code asks for a planned restart).
    pub fn count_exit(&self, grace_left: bool, asked_restart: bool) -> ExitCount {
        let k = self.sessions.known();
        count_unplanned_exit(
            self.last_ran,
            k.current,
            k.ending,
            grace_left,
            asked_restart,
        )
    }

    /// What to log about the last start, once.
    pub fn take_note(&mut self) -> Option<String> {
        self.note.take()
    }

    /// The agent beside `child`, in `session`, as the same user.
    fn start_agent(&mut self, token: &UserToken, child: u32) {
        self.agent = None; // the last one ends with its job
        let Some(plan) = &self.agent_plan else { return };
        let args: Vec<std::ffi::OsString> = plan.args(child).into_iter().map(Into::into).collect();
        let env = std::collections::BTreeMap::new();
        let cmd = UserCommand {
            program: &plan.exe,
            args: &args,
            env: &env,
            working_dir: None,
            desktop: Some(INTERACTIVE_DESKTOP),
            load_profile: false,
        };
        match ChildTree::spawn_as_user(token, &cmd) {
            Ok(agent) => self.agent = Some(agent),
            Err(e) => {
                self.note = Some(format!(
                    "cannot start the session agent ({e}); a logoff or reboot will end the program without its graceful stop"
                ))
            }
        }
    }

    fn token(&self) -> Option<Arc<UserToken>> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What a log in a folder of the user's is opened and rotated with: the user's
    /// rights (impersonation), never SYSTEM's; nothing before the first start.
    pub fn actor(&self) -> crate::supervisor::logs::Actor {
        let cell = self.token.clone();
        Arc::new(move |step: &mut dyn FnMut()| {
            let token = cell.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
            token.impersonate(step).ok()
        })
    }

    /// The shared session record, for the SCM control handler.
    pub fn sessions(&self) -> Sessions {
        self.sessions.clone()
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    /// Where the child should start now; `None`: wait for the user to log on.
    pub fn target(&self) -> Option<Context> {
        run_as::session::plan(self.settings, self.sessions.get(), None).target
    }

    /// After a session change: where the running child should move to, if anywhere.
    pub fn moved(&self) -> Option<Option<Context>> {
        let plan = run_as::session::plan(self.settings, self.sessions.get(), self.running);
        plan.planned_restart.then_some(plan.target)
    }

    /// Start the child where [`UserLauncher::target`] says.
    pub fn spawn(&mut self, cmd: &tokio::process::Command) -> io::Result<ChildTree> {
        let Some(context) = self.target() else {
            return Err(io::Error::other(format!(
                "{} is not logged on (when_logged_off = \"wait\")",
                self.account.name
            )));
        };
        match start(context, &self.account, cmd) {
            Ok((child, token)) => {
                if matches!(context, Context::Interactive(_)) {
                    self.start_agent(&token, child.pid());
                } else {
                    self.agent = None;
                }
                self.running = Some(context);
                *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(token));
                Ok(child)
            }
            Err(e) => {
                // A session that ended without our hearing of it: look again next time.
                if matches!(context, Context::Interactive(_)) {
                    self.sessions.set(live_session(&self.account));
                }
                Err(e)
            }
        }
    }

    /// The child is gone.
    pub fn child_gone(&mut self) {
        self.last_ran = self.running.take();
    }

    /// Run `f` with the running child's user's rights (impersonating its token): for
    /// files of the user's the host writes (the `[stop] file` marker), never as SYSTEM.
    pub fn as_user<T>(&self, f: impl FnOnce() -> T) -> io::Result<T> {
        match self.token() {
            Some(token) => token.impersonate(f),
            None => Err(io::Error::other(
                "no program was started yet, so there is no user to act as",
            )),
        }
    }

    /// Run `f` as the user the next start will use (impersonating the token of the
    /// context [`UserLauncher::target`] names): the host reads the user's `env_file`
    /// with the user's rights, never SYSTEM's (issue 25: a link there must not make
    /// SYSTEM read a file of its choosing into the child's environment).
    pub fn as_next_user<T>(&self, f: impl FnOnce() -> T) -> io::Result<T> {
        let Some(context) = self.target() else {
            return Err(io::Error::other(format!(
                "{} is not logged on (when_logged_off = \"wait\")",
                self.account.name
            )));
        };
        token_for(context, &self.account)?.impersonate(f)
    }

    /// What `status` says while no child runs because the user is not logged on.
    pub fn waiting_reason(&self) -> String {
        format!(
            "waiting for {} to log on ([service] when_logged_off = \"wait\")",
            self.account.name
        )
    }
}

/// Where a context runs, in words, for the log.
pub fn describe(context: Context) -> String {
    match context {
        Context::Interactive(n) => format!("in the user's session {n}"),
        Context::S4u => {
            "in session 0 through a service-for-user logon (no network credentials)".into()
        }
        Context::System => "as LocalSystem".into(),
    }
}
