//! systemd units rendered from specs: golden files, every value read back with
//! systemd's own splitting rules, and `systemd-analyze verify` on the real thing.
//! Unix paths throughout (units and plists only exist there), so Unix only; the
//! renderers themselves are compiled on every OS.
#![cfg(unix)]

use respawn::quote::systemd::{split_environment, split_exec_line};
use respawn::render::systemd::{render_unit, unit_name};
use respawn::render::ServiceContext;
use respawn::spec::Spec;
use std::path::Path;
use std::process::Command;

fn spec(toml: &str) -> Spec {
    Spec::parse(toml, None, Path::new("/srv/gw")).unwrap()
}

const GATEWAY: &str = r#"
name = "gw"
profile = "work"
description = "Chat gateway: 100% up"
command = "/opt/gw/bin/gateway"
args = ["run", "--port", "8080", "--motd", "it's \"$HOME\" at 50%"]
working_dir = "data dir"
env = { GW_HOME = "/srv/gw home", GREETING = "tab\there" }
[restart]
mode = "on-failure"
success_exit_codes = [0, 3]
prevent_restart_exit_codes = [78]
force_restart_exit_codes = [75]
max_restarts = 5
restart_window = "10m"
[stop]
signal = "SIGINT"
timeout = "60s"
"#;

fn ctx<'a>(native: Option<&'a Path>, version: u32, user: bool) -> ServiceContext<'a> {
    ServiceContext {
        respawn_exe: Path::new("/usr/local/bin/respawn"),
        spec_path: Path::new("/etc/respawn/gw work.toml"),
        state_root: Path::new("/var/lib/respawn"),
        native_program: native,
        systemd_version: version,
        user_scope: user,
        run_as: None,
        launchd_log: None,
    }
}

/// The value of the only `key=` line of a unit.
fn value<'a>(unit: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    let mut lines = unit.lines().filter(|l| l.starts_with(&prefix));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("no {key}= in\n{unit}"));
    assert!(lines.next().is_none(), "{key}= twice");
    &line[prefix.len()..]
}

#[test]
fn supervised_system_unit_golden() {
    let unit = render_unit(&spec(GATEWAY), &ctx(None, 252, false)).unwrap();
    assert_eq!(
        unit,
        r#"# Installed by respawn
# Changes here are replaced by the next `respawn install`; edit the spec instead.

[Unit]
Description=Chat gateway: 100%% up (work)
After=network.target
StartLimitIntervalSec=0

[Service]
Type=exec
ExecStart="/usr/local/bin/respawn" "run" "--spec" "/etc/respawn/gw work.toml" "--state-dir" "/var/lib/respawn" "--managed-by" "systemd"
Restart=on-failure
RestartSec=1
RestartPreventExitStatus=78
KillMode=mixed
TimeoutStopSec=70s

[Install]
WantedBy=multi-user.target
"#
    );
    assert_eq!(unit_name(&spec(GATEWAY)), "gw-work.service");
}

#[test]
fn supervised_user_unit_is_wanted_by_the_users_default_target() {
    let unit = render_unit(&spec(GATEWAY), &ctx(None, 252, true)).unwrap();
    assert_eq!(value(&unit, "WantedBy"), "default.target");
    assert!(!unit.contains("After="), "{unit}");
}

#[test]
fn native_unit_golden_for_systemd_252() {
    let unit = render_unit(
        &spec(GATEWAY),
        &ctx(Some(Path::new("/opt/gw/bin/gateway")), 252, false),
    )
    .unwrap();
    assert_eq!(
        unit,
        r#"# Installed by respawn
# Changes here are replaced by the next `respawn install`; edit the spec instead.

[Unit]
Description=Chat gateway: 100%% up (work)
After=network.target
StartLimitIntervalSec=600s
StartLimitBurst=6

[Service]
Type=exec
ExecStart="/opt/gw/bin/gateway" "run" "--port" "8080" "--motd" "it's \"$$HOME\" at 50%%"
Environment="GREETING=tab\there"
Environment="GW_HOME=/srv/gw home"
WorkingDirectory=/srv/gw/data dir
Restart=on-failure
RestartSec=1s
SuccessExitStatus=3
RestartPreventExitStatus=78
RestartForceExitStatus=75
KillMode=control-group
KillSignal=SIGINT
TimeoutStopSec=60s

[Install]
WantedBy=multi-user.target
"#
    );
}

#[test]
fn restart_steps_only_for_systemd_254_and_later() {
    let gw = spec(GATEWAY);
    let program = Some(Path::new("/opt/gw/bin/gateway"));
    let new = render_unit(&gw, &ctx(program, 254, false)).unwrap();
    assert_eq!(value(&new, "RestartSec"), "1s");
    assert_eq!(value(&new, "RestartSteps"), "8");
    assert_eq!(value(&new, "RestartMaxDelaySec"), "64s");
    let old = render_unit(&gw, &ctx(program, 253, false)).unwrap();
    assert!(!old.contains("RestartSteps") && !old.contains("RestartMaxDelaySec"));
    // Before Type=exec existed, Type=simple.
    let older = render_unit(&gw, &ctx(program, 239, false)).unwrap();
    assert_eq!(value(&older, "Type"), "simple");
    // A one-step schedule is a fixed delay.
    let fixed = spec("name = \"f\"\ncommand = \"/bin/f\"\n[restart]\nbackoff = [\"250ms\"]\n");
    let unit = render_unit(&fixed, &ctx(Some(Path::new("/bin/f")), 256, false)).unwrap();
    assert_eq!(value(&unit, "RestartSec"), "250ms");
    assert!(!unit.contains("RestartSteps"));
}

#[test]
fn restart_modes_map_to_systemd_restart() {
    for (mode, want) in [
        ("always", "always"),
        ("on-failure", "on-failure"),
        ("never", "no"),
    ] {
        let s = spec(&format!(
            "name = \"m\"\ncommand = \"/bin/m\"\n[restart]\nmode = \"{mode}\"\n"
        ));
        let unit = render_unit(&s, &ctx(Some(Path::new("/bin/m")), 252, false)).unwrap();
        assert_eq!(value(&unit, "Restart"), want);
        assert_eq!(value(&unit, "StartLimitIntervalSec"), "0");
    }
}

#[test]
fn native_mode_refuses_what_systemd_cannot_do() {
    let program = Some(Path::new("/bin/x"));
    let file_stop = spec("name = \"x\"\ncommand = \"/bin/x\"\n[stop]\nfile = \"stop.json\"\n");
    let err = render_unit(&file_stop, &ctx(program, 252, false)).unwrap_err();
    assert!(err.to_string().contains("without --native"), "{err}");
    let bad_env = spec("name = \"x\"\ncommand = \"/bin/x\"\nenv = { \"my-var\" = \"1\" }\n");
    let err = render_unit(&bad_env, &ctx(program, 252, false)).unwrap_err();
    assert!(err.to_string().contains("my-var"), "{err}");
    // The supervisor sets the environment itself, so any name works supervised.
    assert!(render_unit(&bad_env, &ctx(None, 252, false)).is_ok());
    let kill = spec("name = \"x\"\ncommand = \"/bin/x\"\n[stop]\nmethod = \"kill\"\n");
    let unit = render_unit(&kill, &ctx(program, 252, false)).unwrap();
    assert_eq!(value(&unit, "KillSignal"), "SIGKILL");
}

#[test]
fn every_value_reads_back_as_systemd_splits_it() {
    let odd = [
        "",
        " ",
        "100%",
        "%n",
        "$HOME",
        "${X}",
        "$$",
        "a\"b",
        "it's",
        "back\\slash",
        "\\",
        "new\nline",
        "tab\t",
        "\u{1}\u{7f}",
        "ü€😀",
        ";",
        "-dash",
        "@at",
        "\\;",
        "'\"'",
    ];
    let args: Vec<String> = odd.iter().map(|s| s.to_string()).collect();
    let env_toml: String = odd
        .iter()
        .enumerate()
        .map(|(i, v)| format!("V{i} = {}\n", toml_string(v)))
        .collect();
    let s = spec(&format!(
        "name = \"odd\"\ncommand = \"/bin/odd\"\nargs = [{}]\n[env]\n{env_toml}",
        args.iter()
            .map(|a| toml_string(a))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let unit = render_unit(&s, &ctx(Some(Path::new("/bin/odd")), 252, false)).unwrap();
    let mut argv = vec!["/bin/odd".to_string()];
    argv.extend(args);
    assert_eq!(split_exec_line(value(&unit, "ExecStart")).unwrap(), argv);
    let env: Vec<(String, String)> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .flat_map(|v| split_environment(v).unwrap())
        .collect();
    assert_eq!(env.len(), odd.len());
    for (name, value) in env {
        let i: usize = name[1..].parse().unwrap();
        assert_eq!(value, odd[i], "{name}");
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.into()).to_string()
}

/// `systemd-analyze verify` loads the unit as systemd would and reports every
/// setting it cannot parse. It needs ExecStart's program to exist.
#[test]
fn systemd_analyze_accepts_the_rendered_units() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIP: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let respawn = Path::new(env!("CARGO_BIN_EXE_respawn"));
    let gw = spec(&GATEWAY.replace("/opt/gw/bin/gateway", "/bin/sh"));
    let sh = Path::new("/bin/sh");
    let odd = spec("name = \"odd\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"echo \\\"$1 %s\\\\n\\\"\", \"\\u0001 ü\"]\n[env]\nA = \"x\\ny %n\"\n");
    let cases = [
        (
            "supervised",
            render_unit(&gw, &ctx_with(respawn, None, false)).unwrap(),
        ),
        (
            "supervised-user",
            render_unit(&gw, &ctx_with(respawn, None, true)).unwrap(),
        ),
        (
            "native",
            render_unit(&gw, &ctx_with(respawn, Some(sh), false)).unwrap(),
        ),
        (
            "native-odd",
            render_unit(&odd, &ctx_with(respawn, Some(sh), false)).unwrap(),
        ),
        (
            "supervised-as-user",
            render_unit(
                &gw,
                &ServiceContext {
                    run_as: Some(&account("daemon", "daemon")),
                    launchd_log: None,
                    ..ctx_with(respawn, None, false)
                },
            )
            .unwrap(),
        ),
    ];
    for (name, unit) in cases {
        // WorkingDirectory must exist for verify to be happy about it.
        let unit = unit.replace("/srv/gw/data dir", dir.path().to_str().unwrap());
        let path = dir.path().join(format!("respawn-test-{name}.service"));
        std::fs::write(&path, &unit).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{name}: systemd-analyze verify said:\n{stderr}\nabout:\n{unit}"
        );
    }
}

fn ctx_with<'a>(respawn: &'a Path, native: Option<&'a Path>, user: bool) -> ServiceContext<'a> {
    ServiceContext {
        respawn_exe: respawn,
        native_program: native,
        ..ctx(native, 252, user)
    }
}

fn account(user: &str, group: &str) -> respawn::run_as::install::UnixAccount {
    respawn::run_as::install::UnixAccount {
        user: user.into(),
        group: group.into(),
    }
}

/// A system unit that runs as a user (issue 15) says so in [Service], in both modes;
/// a user unit never does (it runs as its user), and a name systemd would read
/// otherwise is refused.
#[test]
fn a_system_unit_runs_as_its_account() {
    let ann = account("ann", "staff");
    fn with<'a>(
        native: Option<&'a Path>,
        user: bool,
        account: Option<&'a respawn::run_as::install::UnixAccount>,
    ) -> ServiceContext<'a> {
        ServiceContext {
            run_as: account,
            launchd_log: None,
            ..ctx(native, 252, user)
        }
    }
    let gw = spec(GATEWAY);
    let supervised = render_unit(&gw, &with(None, false, Some(&ann))).unwrap();
    let root = render_unit(&gw, &with(None, false, None)).unwrap();
    // Exactly two lines more, right after Type=, and nothing else changed.
    assert_eq!(
        supervised,
        root.replace("Type=exec\n", "Type=exec\nUser=ann\nGroup=staff\n")
    );
    let native = render_unit(
        &gw,
        &with(Some(Path::new("/opt/gw/bin/gateway")), false, Some(&ann)),
    )
    .unwrap();
    assert_eq!(value(&native, "User"), "ann");
    assert_eq!(value(&native, "Group"), "staff");
    let user_unit = render_unit(&gw, &with(None, true, Some(&ann))).unwrap();
    assert!(!user_unit.contains("User="), "{user_unit}");
    for bad in ["a\nExecStartPre=/bin/evil", "%n", "ann smith", ""] {
        let bad = account(bad, "staff");
        let err = render_unit(&gw, &with(None, false, Some(&bad))).unwrap_err();
        assert!(err.to_string().contains("User"), "{err}");
    }
}
