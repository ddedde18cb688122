//! Who the supervised program runs as (issue 15), as pure decisions.
//!
//! A Windows service host runs as LocalSystem, but the program it keeps up (an AI
//! agent gateway whose tools run shell commands) must not: by default it runs as the
//! user who installed the service, with that user's token, profile and environment.
//! Everything here is OS-free so that it is table-tested on every OS; the Windows calls
//! that act on these decisions live in `src/os/windows/token.rs` and
//! `src/admin_files.rs`. What Wine can and cannot show is in docs/wine.md
//! ("Tokens, sessions and file security").

pub mod identity;
pub mod install;
pub mod s4u;
pub mod session;
pub mod session_end;
pub mod spawn;
pub mod update;

use serde::{Deserialize, Serialize};

/// How a token stands under UAC (`GetTokenInformation(TokenElevationType)`): what
/// decides whether an S4U token is filtered ([`s4u`]) and what `respawn update` runs
/// its command with ([`update`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elevation {
    /// No split token: a standard user, UAC turned off, the built-in Administrator, or
    /// a Network/S4U logon (which Windows never splits).
    Default,
    /// The elevated half of a split token; the filtered half is linked to it.
    Full,
    /// The filtered (unelevated) half of a split token.
    Limited,
}

impl Elevation {
    /// From `TOKEN_ELEVATION_TYPE` (1 default, 2 full, 3 limited).
    pub fn from_raw(raw: i32) -> Option<Elevation> {
        match raw {
            1 => Some(Elevation::Default),
            2 => Some(Elevation::Full),
            3 => Some(Elevation::Limited),
            _ => None,
        }
    }
}

/// An account as the install record keeps it: the SID is the identity, the name is for
/// people (and may change when the account is renamed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `S-1-5-21-...`
    pub sid: String,
    /// `PC\ann`
    pub name: String,
}

impl Account {
    pub fn new(sid: &str, name: &str) -> Account {
        Account {
            sid: sid.into(),
            name: name.into(),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_host_never_falls_back_to_local_system() {
        let ann = Account {
            sid: "S-1-5-21-1-2-3-1001".into(),
            name: "PC\\ann".into(),
        };
        assert_eq!(
            host_account(RunAs::User, Some(ann.clone())),
            Ok(Some(ann.clone()))
        );
        assert_eq!(host_account(RunAs::System, Some(ann)), Ok(None));
        assert_eq!(host_account(RunAs::System, None), Ok(None));
        let err = host_account(RunAs::User, None).unwrap_err();
        assert!(err.contains("reinstall"), "{err}");
        assert!(err.contains("run_as = \"system\""), "{err}");
    }

    use super::*;
    use super::{identity::*, install::*, session::*};
    use crate::spec::service::{RunAs, ServiceSettings, WhenLoggedOff};
    use crate::trust::sddl::TRUSTED_INSTALLER;
    use crate::trust::sddl::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn install_account_table() {
        let ann = Account::new("S-1-5-21-1-2-3-1001", "PC\\ann");
        let bob = Account::new("S-1-5-21-1-2-3-1002", "PC\\bob");
        let cases: Vec<(RunAs, Option<&Account>, Option<&Account>, &str)> = vec![
            // run_as, console user, --run-as, expected
            (RunAs::User, Some(&ann), None, "user ann"),
            (RunAs::User, None, None, "user ann"), // no console user (ssh, RDP): the caller
            (RunAs::User, Some(&bob), None, "refuse"), // over-the-shoulder elevation
            (RunAs::User, Some(&bob), Some(&bob), "user bob"),
            (RunAs::User, Some(&bob), Some(&ann), "user ann"),
            (RunAs::System, Some(&bob), None, "system"),
            (RunAs::System, None, Some(&bob), "system"),
        ];
        for (run_as, console, flag, want) in cases {
            let got = choose_install_account(
                run_as,
                &InstallCaller {
                    caller: &ann,
                    console_user: console,
                    flag,
                },
            );
            let got_s = match &got {
                InstallChoice::User(a) if a == &ann => "user ann",
                InstallChoice::User(a) if a == &bob => "user bob",
                InstallChoice::User(_) => "user ?",
                InstallChoice::System => "system",
                InstallChoice::Refuse(m) => {
                    assert!(m.contains("--run-as PC\\bob"), "{m}");
                    "refuse"
                }
            };
            assert_eq!(got_s, want, "{run_as:?} console={console:?} flag={flag:?}");
        }
    }

    #[test]
    fn system_services_on_unix_run_as_the_user_who_asked() {
        use RunAs::*;
        // run_as, --run-as, SUDO_USER, caller (None = root) -> user (None = root)
        type Row<'a> = (
            Option<RunAs>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let table: [Row; 10] = [
            (None, None, Some("ann"), None, Some("ann")),
            (Some(User), None, Some("ann"), None, Some("ann")),
            (None, None, None, Some("ann"), Some("ann")),
            (None, None, None, None, None), // root, no sudo, no flag: root
            (None, None, Some("root"), None, None), // sudo from root
            (None, None, Some(""), None, None),
            (None, Some("svc"), Some("ann"), None, Some("svc")),
            (Some(System), None, Some("ann"), Some("ann"), None),
            (Some(System), Some("svc"), None, None, None),
            (Some(User), Some("root"), None, None, Some("root")), // asked for by name
        ];
        for (run_as, flag, sudo, caller, want) in table {
            assert_eq!(
                unix_system_user(run_as, flag, sudo, caller).as_deref(),
                want,
                "{run_as:?} flag={flag:?} sudo={sudo:?} caller={caller:?}"
            );
        }
    }

    #[test]
    fn unix_account_names_are_checked_not_quoted() {
        for good in ["ann", "_svc", "www-data", "a.b", "machine$", "A1"] {
            assert!(is_unix_account_name(good), "{good}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "a b",
            "a\nUser=root",
            "a%n",
            "ann;",
            "é",
            "$",
            "abcdefghijklmnopqrstuvwxyz0123456789",
        ] {
            assert!(!is_unix_account_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_state_dir_under_a_closed_home_is_unreachable() {
        let d = |path: &str, uid, gid, mode| DirMode {
            path: PathBuf::from(path),
            uid,
            gid,
            mode,
        };
        let root_home = [
            d("/root/.local/state/respawn", 0, 0, 0o755),
            d("/root", 0, 0, 0o700),
            d("/", 0, 0, 0o755),
        ];
        assert_eq!(
            first_unreachable(1000, 1000, &root_home),
            Some(Path::new("/root"))
        );
        assert_eq!(first_unreachable(0, 0, &root_home), None);
        let var_lib = [
            d("/var/lib/respawn", 0, 0, 0o755),
            d("/var/lib", 0, 0, 0o755),
        ];
        assert_eq!(first_unreachable(1000, 1000, &var_lib), None);
        // the user's own closed home, and a group-only folder
        assert_eq!(
            first_unreachable(1000, 1000, &[d("/home/ann", 1000, 1000, 0o700)]),
            None
        );
        assert_eq!(
            first_unreachable(1000, 50, &[d("/srv/x", 0, 50, 0o750)]),
            None
        );
        assert_eq!(
            first_unreachable(1000, 51, &[d("/srv/x", 0, 50, 0o750)]),
            Some(Path::new("/srv/x"))
        );
        // the owner's bits count for the owner even when others may pass
        assert_eq!(
            first_unreachable(1000, 1000, &[d("/odd", 1000, 0, 0o077)]),
            Some(Path::new("/odd"))
        );
    }

    #[test]
    fn runtime_decision_table() {
        use Context::*;
        use SessionEvent as E;
        let user_run = ServiceSettings {
            run_as: None,
            when_logged_off: WhenLoggedOff::Run,
        };
        let user_wait = ServiceSettings {
            run_as: Some(RunAs::User),
            when_logged_off: WhenLoggedOff::Wait,
        };
        let system = ServiceSettings {
            run_as: Some(RunAs::System),
            when_logged_off: WhenLoggedOff::Run,
        };
        // settings, user's session before, event, child now -> session after, target, planned restart
        #[rustfmt::skip]
        type Row = (ServiceSettings, Option<u32>, SessionEvent, Option<Context>, Option<u32>, Option<Context>, bool);
        let table: Vec<Row> = vec![
            // host start
            (
                user_run,
                Some(1),
                E::None,
                None,
                Some(1),
                Some(Interactive(1)),
                false,
            ),
            (user_run, None, E::None, None, None, Some(S4u), false),
            (user_wait, None, E::None, None, None, None, false),
            (system, Some(1), E::None, None, Some(1), Some(System), false),
            (system, None, E::None, None, None, Some(System), false),
            // the user logs on
            (
                user_run,
                None,
                E::Logon(2),
                Some(S4u),
                Some(2),
                Some(Interactive(2)),
                true,
            ),
            (
                user_wait,
                None,
                E::Logon(2),
                None,
                Some(2),
                Some(Interactive(2)),
                false,
            ),
            (
                system,
                None,
                E::Logon(2),
                Some(System),
                Some(2),
                Some(System),
                false,
            ),
            // a second logon of the same user: stay where we are
            (
                user_run,
                Some(1),
                E::Logon(3),
                Some(Interactive(1)),
                Some(1),
                Some(Interactive(1)),
                false,
            ),
            // the user logs off
            (
                user_run,
                Some(1),
                E::Logoff(1),
                Some(Interactive(1)),
                None,
                Some(S4u),
                true,
            ),
            (
                user_wait,
                Some(1),
                E::Logoff(1),
                Some(Interactive(1)),
                None,
                None,
                true,
            ),
            (
                system,
                Some(1),
                E::Logoff(1),
                Some(System),
                None,
                Some(System),
                false,
            ),
            // someone else's session ends
            (
                user_run,
                Some(1),
                E::Logoff(4),
                Some(Interactive(1)),
                Some(1),
                Some(Interactive(1)),
                false,
            ),
            // nothing happened, child already right
            (user_run, None, E::None, Some(S4u), None, Some(S4u), false),
        ];
        for (settings, before, event, running, after, target, restart) in table {
            let (got_after, got) = on_event(settings, before, event, running);
            let row = format!("{settings:?} {before:?} {event:?} {running:?}");
            assert_eq!(got_after, after, "{row}");
            assert_eq!(got.target, target, "{row}");
            assert_eq!(got.planned_restart, restart, "{row}");
        }
    }

    #[test]
    fn session_change_controls_become_events() {
        let ann = "S-1-5-21-1-2-3-1001";
        let bob = "S-1-5-21-1-2-3-1002";
        assert_eq!(
            session_event(WTS_SESSION_LOGON, 2, Some(ann), ann),
            SessionEvent::Logon(2)
        );
        assert_eq!(
            session_event(WTS_SESSION_LOGON, 3, Some(bob), ann),
            SessionEvent::None
        );
        assert_eq!(
            session_event(WTS_SESSION_LOGON, 3, None, ann),
            SessionEvent::None
        );
        assert_eq!(
            session_event(WTS_SESSION_LOGOFF, 2, None, ann),
            SessionEvent::Logoff(2)
        );
        for other in [1, 2, 3, 4, 7, 8, 9] {
            assert_eq!(
                session_event(other, 2, Some(ann), ann),
                SessionEvent::None,
                "{other}"
            );
        }
        // Through the table: ann logs on while the child runs under S4U -> planned restart.
        let (after, plan) = on_event(
            ServiceSettings::default(),
            None,
            session_event(WTS_SESSION_LOGON, 2, Some(ann), ann),
            Some(Context::S4u),
        );
        assert_eq!(after, Some(2));
        assert_eq!(plan.target, Some(Context::Interactive(2)));
        assert!(plan.planned_restart);
    }

    #[test]
    fn contexts_name_their_logon_and_session() {
        assert_eq!(Context::Interactive(3).logon(), "interactive");
        assert_eq!(Context::Interactive(3).session(), 3);
        assert_eq!(Context::S4u.logon(), "s4u");
        assert_eq!(Context::S4u.session(), 0);
        assert_eq!(Context::System.logon(), "system");
    }

    #[test]
    fn the_console_session_wins_when_the_user_is_there() {
        assert_eq!(pick_user_session(Some(2), &[3, 2]), Some(2));
        assert_eq!(pick_user_session(Some(1), &[3, 2]), Some(2));
        assert_eq!(pick_user_session(None, &[]), None);
        assert_eq!(pick_user_session(Some(1), &[]), None);
    }

    #[test]
    fn sddl_is_exact_and_refuses_non_sids() {
        assert_eq!(
            admin_only_sddl(Some("S-1-5-21-11-22-33-1001")).unwrap(),
            "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;S-1-5-21-11-22-33-1001)"
        );
        assert_eq!(
            admin_only_sddl(None).unwrap(),
            "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
        );
        for bad in [
            "",
            "S-1-",
            "S-1-5-)(A;;FA;;;WD",
            "WD",
            "S-1-5--1",
            "s-1-5-18",
            "S-1-5-21-99999999999",
        ] {
            assert!(admin_only_sddl(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_machine_root_lets_users_list_it_but_not_change_it() {
        for role in [Role::File, Role::Folder, Role::Ancestor] {
            assert_eq!(
                untrusted_writers(&format!("O:BA{MACHINE_ROOT_SDDL}"), role),
                Vec::<String>::new()
            );
        }
        assert!(MACHINE_ROOT_SDDL.contains("(A;;0x1200a9;;;BU)"));
    }

    #[test]
    fn our_own_dacl_has_no_untrusted_writer() {
        let sddl = admin_only_sddl(Some("S-1-5-21-1-2-3-1001")).unwrap();
        for role in [Role::File, Role::Folder, Role::Ancestor] {
            assert_eq!(
                untrusted_writers(&format!("O:BA{sddl}"), role),
                Vec::<String>::new()
            );
            assert_eq!(
                untrusted_writers(&format!("O:SYG:SY{sddl}"), role),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn writers_are_found() {
        let user = "S-1-5-21-1-2-3-1001";
        // what Wine reports for any file it created: the owner is the user
        let wine = format!("O:{user}D:(A;;FA;;;SY)(A;;FA;;;{user})(A;;0x1200a9;;;WD)");
        assert_eq!(untrusted_writers(&wine, Role::File), vec![user.to_string()]);
        // a typical user-profile folder
        let profile = format!("O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;{user})");
        assert_eq!(
            untrusted_writers(&profile, Role::Ancestor),
            vec![user.to_string()]
        );
        // Authenticated Users may create folders in C:\: harmless above, not next to an exe
        let c_root = "O:SYD:(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;OICI;0x1200a9;;;BU)(A;CI;0x4;;;AU)(A;CIIO;SD;;;AU)";
        assert_eq!(
            untrusted_writers(c_root, Role::Ancestor),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_writers(c_root, Role::Folder),
            vec!["AU".to_string()]
        );
        // Program Files as shipped: TrustedInstaller owns it, Users read
        let pf = format!("O:{TRUSTED_INSTALLER}D:P(A;;FA;;;{TRUSTED_INSTALLER})(A;CIIO;GA;;;CO)(A;;0x1301bf;;;SY)(A;;0x1301bf;;;BA)(A;;0x1200a9;;;BU)");
        assert_eq!(untrusted_writers(&pf, Role::Folder), Vec::<String>::new());
        // generic rights, codes, no DACL, NULL DACL
        assert_eq!(
            untrusted_writers("D:(A;;GW;;;BU)", Role::File),
            vec!["BU".to_string()]
        );
        assert_eq!(
            untrusted_writers("D:(A;;GRGX;;;BU)", Role::File),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_writers("D:(A;;DC;;;BU)", Role::Folder),
            vec!["BU".to_string()]
        );
        assert_eq!(
            untrusted_writers("D:(A;;DC;;;BU)", Role::Ancestor),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_writers("D:(A;;0x40;;;BU)", Role::Ancestor),
            vec!["BU".to_string()]
        );
        assert_eq!(
            untrusted_writers("O:BA", Role::File),
            vec!["WD".to_string()]
        );
        assert_eq!(
            untrusted_writers("D:NO_ACCESS_CONTROL", Role::File),
            vec!["WD".to_string()]
        );
        // inherit-only ACEs don't apply to the object; "CIOI" is not "IO"
        assert_eq!(
            untrusted_writers("D:(A;OICIIOID;FA;;;BU)", Role::File),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_writers("D:(A;CIOI;FA;;;BU)", Role::File),
            vec!["BU".to_string()]
        );
        // an unknown rights code counts as write
        assert_eq!(
            untrusted_writers("D:(A;;ZZ;;;BU)", Role::Ancestor),
            vec!["BU".to_string()]
        );
    }

    #[test]
    fn admin_paths_follow_the_environment() {
        let p = AdminPaths::new(Some(r"D:\Apps\"), Some(r"E:\Data"), "hermes-work").unwrap();
        assert_eq!(p.bin_dir, PathBuf::from(r"D:\Apps\respawn"));
        assert_eq!(
            p.exe("respawn.exe"),
            PathBuf::from(r"D:\Apps\respawn\respawn.exe")
        );
        assert_eq!(p.service_dir, PathBuf::from(r"E:\Data\respawn\hermes-work"));
        assert_eq!(
            p.spec(),
            PathBuf::from(r"E:\Data\respawn\hermes-work\spec.toml")
        );
        let d = AdminPaths::new(None, Some(" "), "gw").unwrap();
        assert_eq!(d.bin_dir, PathBuf::from(r"C:\Program Files\respawn"));
        assert_eq!(d.service_dir, PathBuf::from(r"C:\ProgramData\respawn\gw"));
        let err = AdminPaths::new(Some("relative"), None, "gw").unwrap_err();
        assert!(err.contains("%ProgramFiles%"), "{err}");
        assert!(AdminPaths::new(None, None, "..\\x").is_err());
    }

    #[test]
    fn every_folder_above_a_file_is_checked() {
        let got = paths_to_check(Path::new("/a/b/c.toml"));
        let want = [
            ("/a/b/c.toml", Role::File),
            ("/a/b", Role::Folder),
            ("/a", Role::Ancestor),
            ("/", Role::Ancestor),
        ];
        assert_eq!(got, want.map(|(p, r)| (PathBuf::from(p), r)).to_vec());
    }

    #[test]
    fn the_spec_env_goes_over_the_users_block_case_insensitively() {
        let user = parse_env_entries([
            "Path=C:\\u\\bin",
            "USERPROFILE=C:\\Users\\ann",
            "=C:=C:\\",
            "bad",
        ]);
        assert_eq!(user.len(), 3);
        let mut spec = std::collections::BTreeMap::new();
        spec.insert("PATH".to_string(), "C:\\x".to_string());
        spec.insert("HERMES_HOME".to_string(), "h".to_string());
        let got = merge_env(&user, &spec);
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["=C:", "HERMES_HOME", "Path", "USERPROFILE"]);
        assert_eq!(got[2].1, "C:\\x");
    }

    #[test]
    fn logon_kinds() {
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(logon_kind("S-1-5-18", &g(&["S-1-5-4"])), "system");
        assert_eq!(
            logon_kind("S-1-5-21-1", &g(&["S-1-1-0", "S-1-5-4"])),
            "interactive"
        );
        assert_eq!(logon_kind("S-1-5-21-1", &g(&["S-1-5-2"])), "s4u");
        assert_eq!(logon_kind("S-1-5-21-1", &g(&["S-1-5-6"])), "service");
        assert_eq!(logon_kind("S-1-5-21-1", &g(&[])), "unknown");
    }

    #[test]
    fn a_spec_carries_its_service_table() {
        let parse = |t: &str| crate::spec::Spec::parse(t, None, Path::new("/base"));
        let spec =
            parse("name = \"a\"\ncommand = \"sh\"\n[service]\nrun_as = \"system\"\n").unwrap();
        assert_eq!(spec.service.run_as, Some(RunAs::System));
        let spec = parse("name = \"a\"\ncommand = \"sh\"\n").unwrap();
        assert_eq!(spec.service, ServiceSettings::default());
        let err =
            parse("name = \"a\"\ncommand = \"sh\"\n[service]\nrun_as = \"admin\"\n").unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("`user`"), "{}", err.message);
    }

    #[test]
    fn settings_parse_from_toml() {
        let s: ServiceSettings =
            toml::from_str("run_as = \"system\"\nwhen_logged_off = \"wait\"").unwrap();
        assert_eq!(s.run_as, Some(RunAs::System));
        assert_eq!(s.when_logged_off, WhenLoggedOff::Wait);
        let d: ServiceSettings = toml::from_str("").unwrap();
        assert_eq!(d.windows_service_run_as(), RunAs::User);
        assert!(toml::from_str::<ServiceSettings>("run_as = \"root\"").is_err());
        assert!(toml::from_str::<ServiceSettings>("runas = \"user\"").is_err());
    }
}
