//! The service host's side of issue 15: from the recorded account and the sessions
//! logged on now, where the child runs and with which token, and the spawn itself.
//! The decisions are `crate::run_as`'s; the calls are `crate::os`'s.

use crate::os::{self, UserChild, UserCommand, UserToken, INTERACTIVE_DESKTOP};
use crate::run_as::{self, Account, Context, Plan, ServiceSettings};
use crate::spec::Spec;
use std::io;
use std::path::Path;

/// The plan at host start (or after a session change): where the recorded user is
/// logged on now, and so where the child should run.
pub fn plan_now(settings: ServiceSettings, account: &Account, running: Option<Context>) -> Plan {
    let sessions = os::sessions_of(&account.sid);
    let session = run_as::pick_user_session(os::console_session(), &sessions);
    run_as::plan(settings, session, running)
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

/// Start the spec's program in `context` as `account`: the user's environment block
/// with the spec's `env` on top, the user's profile loaded, on the user's desktop when
/// in their session.
pub fn spawn(
    context: Context,
    account: &Account,
    spec: &Spec,
    program: &Path,
) -> io::Result<UserChild> {
    let token = token_for(context, account)?;
    let desktop = matches!(context, Context::Interactive(_)).then_some(INTERACTIVE_DESKTOP);
    UserChild::spawn(
        &token,
        &UserCommand {
            program,
            args: &spec.args,
            env: &spec.env,
            working_dir: spec.working_dir.as_deref(),
            desktop,
            load_profile: context != Context::System,
        },
    )
}
