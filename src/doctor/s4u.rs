//! Doctor check `s4u` (Windows service, issue 22 item 3): whether the program can run
//! while its user is logged off (`when_logged_off = "run"`), shown by a trial
//! service-for-user logon of the recorded account (found by its SID) through the
//! package its kind needs: an Entra ID account (no S4U), a policy that denies the
//! logon, an unreachable domain controller each show as a FAIL with what to do; and
//! that an administrator's S4U token (a Network logon is not UAC-split) is filtered to
//! a filtered token's rights, on the trial token and on a running S4U child. The
//! verdict is pure (table-tested everywhere); Windows gathers the facts.
#![cfg_attr(not(windows), allow(dead_code))]

use super::Check;
use crate::run_as::identity::Logon;
use crate::run_as::s4u::{token_filter, S4uPackage, S4uTrial, TokenFilter, TokenRights};
use crate::spec::service::WhenLoggedOff;

const ID: &str = "s4u";

fn package(p: S4uPackage) -> &'static str {
    match p {
        S4uPackage::Msv1_0 => "MSV1_0 (a local account)",
        S4uPackage::Kerberos => "Kerberos (a domain account)",
    }
}

/// What a token holds that a filtered one does not, in words (empty: nothing).
fn excess(rights: &TokenRights) -> String {
    match token_filter(rights) {
        TokenFilter::Keep => String::new(),
        TokenFilter::Lua {
            deny,
            delete,
            lower_integrity,
        } => {
            let mut parts = Vec::new();
            if !deny.is_empty() {
                parts.push(format!("groups {}", deny.join(", ")));
            }
            if !delete.is_empty() {
                parts.push(format!("privileges {}", delete.join(", ")));
            }
            if lower_integrity {
                parts.push("an integrity label above medium".to_string());
            }
            if parts.is_empty() {
                parts.push("the full half of a split token".to_string());
            }
            parts.join("; ")
        }
    }
}

/// The verdict. `who`: the recorded account's name; `trial`: the trial logon (or why
/// it failed); `child`: the running child's logon kind and token rights; `wine`: the
/// S4U logon is a stub here, so a failed trial is no verdict.
pub fn s4u_verdict(
    when: WhenLoggedOff,
    who: &str,
    trial: Result<&S4uTrial, &str>,
    child: Option<(Logon, &TokenRights)>,
    wine: bool,
) -> Check {
    if when == WhenLoggedOff::Wait {
        return Check::ok(
            ID,
            format!(
                "when_logged_off = \"wait\": the program runs only while {who} is logged on, so no service-for-user logon is needed"
            ),
        );
    }
    let wait_fix = "set when_logged_off = \"wait\" in [service] and reinstall (`respawn install`), so the program runs only while you are logged on, or fix what the message names";
    if let Some((Logon::S4u, rights)) = child {
        let more = excess(rights);
        if !more.is_empty() {
            return Check::fail(
                ID,
                format!(
                    "the program runs through a service-for-user logon with more rights than {who}'s filtered token: {more}"
                ),
                "restart it with this version of respawn (`respawn restart`); if it persists, send `respawn doctor --json` with a bug report",
            );
        }
    }
    let trial = match trial {
        Err(why) if wine => {
            return Check::warn(
                ID,
                format!("a trial service-for-user logon of {who} failed: {why} (Wine stubs the logon: not a verdict)"),
                "none under Wine; on Windows this check tries the logon for real",
            )
        }
        Err(why) => {
            return Check::fail(
                ID,
                format!("while {who} is logged off the program cannot start (a trial service-for-user logon, tried now, failed): {why}"),
                wait_fix,
            )
        }
        Ok(t) => t,
    };
    let how = format!(
        "a service-for-user logon of {} through {} works (tried now): the program runs while they are logged off",
        trial.request.display,
        package(trial.request.package)
    );
    if matches!(token_filter(&trial.rights), TokenFilter::Keep) {
        return Check::ok(ID, format!("{how}, with a standard user's rights"));
    }
    match &trial.filtered {
        Err(why) => Check::warn(
            ID,
            format!(
                "{how}; the token is an administrator's ({}), and the filter could not be tried here: {why}",
                excess(&trial.rights)
            ),
            "run `respawn doctor` from an elevated prompt; while the program runs logged off, this check reads its token",
        ),
        Ok(after) => {
            let left = excess(after);
            if left.is_empty() {
                Check::ok(
                    ID,
                    format!("{how}; the token is an administrator's, and the program gets it filtered as in their own session (Administrators deny-only, medium integrity)"),
                )
            } else {
                Check::fail(
                    ID,
                    format!("{how}, but the filtered token still has {left}: the program would run with more rights than in {who}'s own session"),
                    wait_fix,
                )
            }
        }
    }
}

#[cfg(windows)]
pub fn s4u(ctx: &super::Ctx) -> Option<Check> {
    use crate::spec::service::RunAs;
    use crate::state::ServiceState;
    let spec = ctx.spec?;
    if spec.service.windows_service_run_as() != RunAs::User {
        return None;
    }
    let account = ctx.inst.run_as_user.as_ref()?;
    let when = spec.service.when_logged_off;
    if when == WhenLoggedOff::Wait {
        return Some(s4u_verdict(when, &account.name, Err(""), None, false));
    }
    let trial = crate::os::UserToken::s4u_trial(&account.sid).map_err(|e| e.to_string());
    // The running child, when it is the one recorded (not a recycled pid).
    let child = ServiceState::read(&ctx.inst.paths().state_file())
        .ok()
        .and_then(|s| {
            let pid = s.child_pid?;
            (s.child_start_token.is_some() && crate::os::start_token(pid) == s.child_start_token)
                .then_some(pid)
        })
        .and_then(|pid| {
            let id = crate::os::child_identity(pid)?;
            Some((id.logon, crate::os::process_rights(pid).ok()?))
        });
    Some(s4u_verdict(
        when,
        &account.name,
        trial.as_ref().map_err(String::as_str),
        child.as_ref().map(|(l, r)| (*l, r)),
        crate::os::running_under_wine(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use crate::run_as::s4u::{Elevation, Group, S4uRequest, SE_GROUP_USE_FOR_DENY_ONLY};

    fn rights(admin: bool, integrity: u32) -> TokenRights {
        TokenRights {
            elevation: Some(Elevation::Default),
            groups: vec![Group {
                sid: "S-1-5-32-544".into(),
                attributes: if admin {
                    0x7
                } else {
                    SE_GROUP_USE_FOR_DENY_ONLY
                },
            }],
            privileges: vec!["SeChangeNotifyPrivilege".into()],
            integrity: Some(integrity),
        }
    }

    fn trial(pkg: S4uPackage, admin: bool, filtered: Result<TokenRights, String>) -> S4uTrial {
        S4uTrial {
            request: S4uRequest {
                package: pkg,
                user: "ann".into(),
                domain: "PC".into(),
                display: "PC\\ann".into(),
            },
            rights: rights(admin, if admin { 0x3000 } else { 0x2000 }),
            filtered,
        }
    }

    #[test]
    fn s4u_verdicts() {
        use S4uPackage::*;
        use WhenLoggedOff::*;
        let std_user = trial(Msv1_0, false, Ok(rights(false, 0x2000)));
        let admin_ok = trial(Kerberos, true, Ok(rights(false, 0x2000)));
        let admin_still = trial(Msv1_0, true, Ok(rights(false, 0x3000)));
        let admin_untried = trial(Msv1_0, true, Err("access denied".into()));
        let elevated_child = rights(true, 0x3000);
        let filtered_child = rights(false, 0x2000);
        let denied = "Windows does not let PC\\ann log on this way (NTSTATUS 0xc000015b)";
        // when, trial, child, wine -> status, words
        type Row<'a> = (
            WhenLoggedOff,
            Result<&'a S4uTrial, &'a str>,
            Option<(Logon, &'a TokenRights)>,
            bool,
            Status,
            &'a str,
        );
        let table: Vec<Row> = vec![
            (Wait, Err(""), None, false, Status::Ok, "no service-for-user logon is needed"),
            (Run, Ok(&std_user), None, false, Status::Ok, "MSV1_0 (a local account) works"),
            (Run, Ok(&admin_ok), None, false, Status::Ok, "Kerberos (a domain account) works (tried now): the program runs while they are logged off; the token is an administrator's, and the program gets it filtered"),
            (Run, Ok(&admin_still), None, false, Status::Fail, "integrity label above medium"),
            (Run, Ok(&admin_untried), None, false, Status::Warn, "could not be tried here: access denied"),
            (Run, Err(denied), None, false, Status::Fail, "0xc000015b"),
            (Run, Err("Entra ID"), None, false, Status::Fail, "cannot start"),
            (Run, Err("Wine stubs"), None, true, Status::Warn, "not a verdict"),
            // a running S4U child with an admin's rights: a FAIL whatever the trial says
            (Run, Ok(&std_user), Some((Logon::S4u, &elevated_child)), false, Status::Fail, "groups S-1-5-32-544"),
            (Run, Ok(&std_user), Some((Logon::S4u, &filtered_child)), false, Status::Ok, "works"),
            // in the user's session the token is Windows' own (filtered by UAC)
            (Run, Ok(&std_user), Some((Logon::Interactive, &elevated_child)), false, Status::Ok, "works"),
        ];
        for (when, trial, child, wine, status, words) in table {
            let c = s4u_verdict(when, "PC\\ann", trial, child, wine);
            assert_eq!(c.status, status, "{when:?} {trial:?} {child:?}: {c:?}");
            assert!(c.summary.contains(words), "{}", c.summary);
            assert_eq!(c.id, "s4u");
            if status == Status::Fail && child.is_none() {
                assert!(c.fix.unwrap().contains("when_logged_off = \"wait\""));
            }
        }
    }
}
