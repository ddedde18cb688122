//! launchd plists rendered from specs (golden, read back with the plist crate and with
//! Python's plistlib), and the launchctl command sequences as data.
//! Unix paths throughout (units and plists only exist there), so Unix only; the
//! renderers themselves are compiled on every OS.
#![cfg(unix)]

use plist::Value;
use proptest::prelude::*;
use respawn::render::launchd::*;
use respawn::render::ServiceContext;
use respawn::spec::Spec;
use std::path::Path;
use std::process::{Command, Stdio};

fn spec(toml: &str) -> Spec {
    Spec::parse(toml, None, Path::new("/Users/ann/gw")).unwrap()
}

const GATEWAY: &str = r#"
name = "gw"
profile = "work"
command = "/opt/gw/bin/gateway"
args = ["run", "--motd", "<b>fish & chips</b> ]]> \"quoted\" 'single'"]
working_dir = "data"
env = { GW_HOME = "/Users/ann/gw home", AMP = "a&b" }
[restart]
mode = "on-failure"
backoff = ["1500ms", "4s"]
[stop]
timeout = "60s"
"#;

fn ctx(native: Option<&Path>, user: bool) -> ServiceContext<'_> {
    ServiceContext {
        respawn_exe: Path::new("/usr/local/bin/respawn"),
        spec_path: Path::new("/Users/ann/gw/gw spec.toml"),
        state_root: Path::new("/Users/ann/Library/Application Support/respawn"),
        native_program: native,
        user_scope: user,
        run_as: None,
        systemd_version: 0,
        // Where ServicePaths::launchd_log puts it for the `gw-work` specs below.
        launchd_log: Some(Path::new(if native.is_some() {
            "/Users/ann/Library/Application Support/respawn/gw-work/output.log"
        } else {
            "/Users/ann/Library/Application Support/respawn/gw-work/launchd.log"
        })),
    }
}

#[test]
fn supervised_agent_golden() {
    let xml = render_plist(&spec(GATEWAY), &ctx(None, true)).unwrap();
    assert_eq!(
        xml,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>ai.respawn.gw.work</string>
	<key>ProgramArguments</key>
	<array>
		<string>/usr/local/bin/respawn</string>
		<string>run</string>
		<string>--spec</string>
		<string>/Users/ann/gw/gw spec.toml</string>
		<string>--state-dir</string>
		<string>/Users/ann/Library/Application Support/respawn</string>
		<string>--managed-by</string>
		<string>launchd</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ThrottleInterval</key>
	<integer>1</integer>
	<key>ExitTimeOut</key>
	<integer>70</integer>
	<key>ProcessType</key>
	<string>Standard</string>
	<key>StandardOutPath</key>
	<string>/Users/ann/Library/Application Support/respawn/gw-work/launchd.log</string>
	<key>StandardErrorPath</key>
	<string>/Users/ann/Library/Application Support/respawn/gw-work/launchd.log</string>
</dict>
</plist>
"#
    );
}

fn dict(v: &Value) -> &plist::Dictionary {
    v.as_dictionary().expect("a dictionary")
}

#[test]
fn native_job_runs_the_program_with_its_settings() {
    let program = Path::new("/opt/gw/bin/gateway");
    let v = plist_value(&spec(GATEWAY), &ctx(Some(program), true)).unwrap();
    let job = dict(&v);
    let argv: Vec<&str> = job["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_string().unwrap())
        .collect();
    assert_eq!(
        argv,
        [
            "/opt/gw/bin/gateway",
            "run",
            "--motd",
            "<b>fish & chips</b> ]]> \"quoted\" 'single'"
        ]
    );
    let env = dict(&job["EnvironmentVariables"]);
    assert_eq!(env["GW_HOME"].as_string(), Some("/Users/ann/gw home"));
    assert_eq!(env["AMP"].as_string(), Some("a&b"));
    assert_eq!(
        job["WorkingDirectory"].as_string(),
        Some("/Users/ann/gw/data")
    );
    // on-failure: restart unless the exit was clean.
    assert_eq!(
        dict(&job["KeepAlive"])["SuccessfulExit"].as_boolean(),
        Some(false)
    );
    // The first backoff step, rounded up to whole seconds.
    assert_eq!(job["ThrottleInterval"].as_signed_integer(), Some(2));
    assert_eq!(job["ExitTimeOut"].as_signed_integer(), Some(60));
    assert!(job["StandardOutPath"]
        .as_string()
        .unwrap()
        .ends_with("/gw-work/output.log"));
}

#[test]
fn keep_alive_follows_the_restart_mode_in_native_mode() {
    let program = Some(Path::new("/bin/x"));
    for (mode, want) in [("always", Some(true)), ("never", Some(false))] {
        let s = spec(&format!(
            "name = \"x\"\ncommand = \"/bin/x\"\n[restart]\nmode = \"{mode}\"\nbackoff = [\"100ms\"]\n"
        ));
        let v = plist_value(&s, &ctx(program, true)).unwrap();
        assert_eq!(dict(&v)["KeepAlive"].as_boolean(), want, "{mode}");
        // Never 0: launchd's minimum is one second.
        assert_eq!(dict(&v)["ThrottleInterval"].as_signed_integer(), Some(1));
    }
}

#[test]
fn label_and_paths_follow_the_spec_and_scope() {
    let s =
        spec("name = \"gw\"\ncommand = \"/bin/x\"\n[names]\nlaunchd_label = \"com.example.gw\"\n");
    assert_eq!(label(&s), "com.example.gw");
    assert_eq!(
        label(&spec("name = \"gw\"\ncommand = \"/bin/x\"\n")),
        "ai.respawn.gw"
    );
    let home = Path::new("/Users/ann");
    assert_eq!(
        plist_path("ai.respawn.gw", true, home),
        Path::new("/Users/ann/Library/LaunchAgents/ai.respawn.gw.plist")
    );
    assert_eq!(
        plist_path("ai.respawn.gw", false, home),
        Path::new("/Library/LaunchDaemons/ai.respawn.gw.plist")
    );
}

#[test]
fn characters_xml_cannot_hold_are_refused() {
    let s = spec("name = \"x\"\ncommand = \"/bin/x\"\nargs = [\"a\\u0001b\"]\n");
    let err = render_plist(&s, &ctx(Some(Path::new("/bin/x")), true)).unwrap_err();
    assert!(err.to_string().contains("U+0001"), "{err}");
    // Supervised, the args live in the spec, not in the plist.
    assert!(render_plist(&s, &ctx(None, true)).is_ok());
}

/// Python's plistlib (expat underneath) reads the plist to JSON.
fn plistlib(xml: &str) -> serde_json::Value {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, plistlib, sys; json.dump(plistlib.loads(sys.stdin.buffer.read()), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "plistlib failed: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Dictionary(d) => d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect(),
        Value::Array(a) => a.iter().map(to_json).collect(),
        Value::String(s) => s.clone().into(),
        Value::Boolean(b) => (*b).into(),
        Value::Integer(i) => i.as_signed().unwrap().into(),
        other => panic!("not in our plists: {other:?}"),
    }
}

fn python_available() -> bool {
    Command::new("python3").arg("--version").output().is_ok()
}

#[test]
fn plist_crate_and_plistlib_read_back_what_was_meant() {
    for native in [None, Some(Path::new("/opt/gw/bin/gateway"))] {
        let s = spec(GATEWAY);
        let want = plist_value(&s, &ctx(native, false)).unwrap();
        let xml = render_plist(&s, &ctx(native, false)).unwrap();
        assert_eq!(Value::from_reader_xml(xml.as_bytes()).unwrap(), want);
        if python_available() {
            assert_eq!(plistlib(&xml), to_json(&want));
        } else {
            println!("SKIP: python3 is not installed; plistlib not checked");
        }
    }
}

/// Strings that XML can hold, biased towards what needs escaping.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        r#"[<>&"' \]\[\r\n\t;%$\\üé€😀\u{7f}\u{85}\u{2028}]{0,16}"#,
        "(]]>|&amp;|<!\\[CDATA\\[|&#13;|<!--|-->|\r\n){1,4}",
        any::<String>(),
    ]
    .prop_map(|s| {
        s.chars()
            .filter(|c| {
                matches!(c, '\t' | '\n' | '\r')
                    || !(*c < ' ' || *c == '\u{fffe}' || *c == '\u{ffff}')
            })
            .collect()
    })
}

fn odd_spec(arg: &str, env_value: &str) -> Spec {
    let q = |s: &str| toml::Value::String(s.into()).to_string();
    spec(&format!(
        "name = \"odd\"\ncommand = \"/bin/odd\"\nargs = [{}]\n[env]\nODD = {}\n",
        q(arg),
        q(env_value)
    ))
}

proptest! {
    #[test]
    fn odd_strings_round_trip_through_the_plist_crate(arg in odd_string(), value in odd_string()) {
        let program = Path::new("/bin/odd");
        let xml = render_plist(&odd_spec(&arg, &value), &ctx(Some(program), true)).unwrap();
        let back = Value::from_reader_xml(xml.as_bytes()).unwrap();
        let job = dict(&back);
        prop_assert_eq!(job["ProgramArguments"].as_array().unwrap()[1].as_string(), Some(arg.as_str()));
        prop_assert_eq!(dict(&job["EnvironmentVariables"])["ODD"].as_string(), Some(value.as_str()));
    }
}

proptest! {
    // Each case starts Python: a few dozen are plenty next to the cases above.
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn odd_strings_round_trip_through_plistlib(arg in odd_string(), value in odd_string()) {
        if !python_available() {
            return Ok(());
        }
        let program = Path::new("/bin/odd");
        let xml = render_plist(&odd_spec(&arg, &value), &ctx(Some(program), true)).unwrap();
        let back = plistlib(&xml);
        prop_assert_eq!(&back["ProgramArguments"][1], &serde_json::Value::from(arg));
        prop_assert_eq!(&back["EnvironmentVariables"]["ODD"], &serde_json::Value::from(value));
    }
}

fn strings(cmds: &[Vec<String>]) -> Vec<String> {
    cmds.iter().map(|c| c.join(" ")).collect()
}

#[test]
fn launchctl_sequences_as_data() {
    let agent = domain(true, 501);
    let daemon = domain(false, 0);
    assert_eq!((agent.as_str(), daemon.as_str()), ("gui/501", "system"));
    let plist = Path::new("/Users/ann/Library/LaunchAgents/ai.respawn.gw.plist");
    assert_eq!(
        strings(&install_commands(&agent, "ai.respawn.gw", plist, false)),
        [
            "launchctl enable gui/501/ai.respawn.gw",
            "launchctl bootstrap gui/501 /Users/ann/Library/LaunchAgents/ai.respawn.gw.plist",
        ]
    );
    // A re-install unloads the old job first.
    assert_eq!(
        strings(&install_commands(&agent, "ai.respawn.gw", plist, true))[0],
        "launchctl bootout gui/501/ai.respawn.gw"
    );
    assert_eq!(
        strings(&uninstall_commands(&daemon, "ai.respawn.gw")),
        ["launchctl bootout system/ai.respawn.gw"]
    );
    assert_eq!(
        strings(&start_commands(&agent, "ai.respawn.gw", plist, true)),
        ["launchctl kickstart gui/501/ai.respawn.gw"]
    );
    assert_eq!(
        strings(&start_commands(&agent, "ai.respawn.gw", plist, false)),
        [
            "launchctl bootstrap gui/501 /Users/ann/Library/LaunchAgents/ai.respawn.gw.plist",
            "launchctl kickstart gui/501/ai.respawn.gw",
        ]
    );
    assert_eq!(
        strings(&stop_commands(&agent, "ai.respawn.gw")),
        ["launchctl bootout gui/501/ai.respawn.gw"]
    );
    assert_eq!(
        strings(&restart_commands(&agent, "ai.respawn.gw", false)),
        ["launchctl kill SIGHUP gui/501/ai.respawn.gw"]
    );
    assert_eq!(
        strings(&restart_commands(&agent, "ai.respawn.gw", true)),
        ["launchctl kickstart -k gui/501/ai.respawn.gw"]
    );
    assert_eq!(
        status_command(&agent, "ai.respawn.gw").join(" "),
        "launchctl print gui/501/ai.respawn.gw"
    );
    // Never the deprecated load/unload.
    let all = [
        install_commands(&agent, "l", plist, true),
        uninstall_commands(&agent, "l"),
        start_commands(&agent, "l", plist, false),
        stop_commands(&agent, "l"),
        restart_commands(&agent, "l", true),
    ]
    .concat();
    assert!(all.iter().all(|c| c[1] != "load" && c[1] != "unload"));
}

#[test]
fn reads_launchctl_print() {
    let text = "gui/501/ai.respawn.gw = {\n\tactive count = 1\n\tpath = /Users/ann/Library/LaunchAgents/ai.respawn.gw.plist\n\ttype = LaunchAgent\n\tstate = running\n\n\tprogram = /usr/local/bin/respawn\n\targuments = {\n\t\t/usr/local/bin/respawn\n\t\trun\n\t}\n\n\truns = 3\n\tpid = 4242\n\tlast exit code = 0\n\tenvironment = {\n\t\tstate = not-top-level\n\t}\n}\n";
    assert_eq!(
        parse_print(text),
        JobInfo {
            state: Some("running".into()),
            pid: Some(4242),
            last_exit_code: Some(0),
            runs: Some(3),
        }
    );
    let waiting = "x = {\n\tstate = not running\n\tlast exit code = (never exited)\n}\n";
    let info = parse_print(waiting);
    assert_eq!(info.state.as_deref(), Some("not running"));
    assert_eq!((info.pid, info.last_exit_code), (None, None));
}

#[test]
fn native_mode_refuses_a_stop_launchd_cannot_do() {
    let s = spec("name = \"x\"\ncommand = \"/bin/x\"\n[stop]\ncommand = [\"/bin/stop-x\"]\n");
    let err = render_plist(&s, &ctx(Some(Path::new("/bin/x")), true)).unwrap_err();
    assert!(err.to_string().contains("without --native"), "{err}");
    assert!(render_plist(&s, &ctx(None, true)).is_ok());
}

/// A LaunchDaemon that runs as a user (issue 15) names it, an agent never does, and
/// a name launchd would misread is refused.
#[test]
fn a_daemon_runs_as_its_account() {
    let ann = respawn::run_as::install::UnixAccount {
        user: "ann".into(),
        group: "staff".into(),
    };
    let gw = spec(GATEWAY);
    let daemon = plist_value(
        &gw,
        &ServiceContext {
            run_as: Some(&ann),
            ..ctx(None, false)
        },
    )
    .unwrap();
    let job = dict(&daemon);
    assert_eq!(job["UserName"].as_string(), Some("ann"));
    assert_eq!(job["GroupName"].as_string(), Some("staff"));
    let root = plist_value(&gw, &ctx(None, false)).unwrap();
    let mut without = job.clone();
    without.remove("UserName");
    without.remove("GroupName");
    assert_eq!(&without, dict(&root), "nothing else changes");
    let agent = plist_value(
        &gw,
        &ServiceContext {
            run_as: Some(&ann),
            ..ctx(None, true)
        },
    )
    .unwrap();
    assert!(!dict(&agent).contains_key("UserName"));
    let xml = render_plist(
        &gw,
        &ServiceContext {
            run_as: Some(&ann),
            ..ctx(None, false)
        },
    )
    .unwrap();
    assert!(
        xml.contains("<key>UserName</key>\n\t<string>ann</string>"),
        "{xml}"
    );
    let bad = respawn::run_as::install::UnixAccount {
        user: "<ann>".into(),
        group: "staff".into(),
    };
    assert!(plist_value(
        &gw,
        &ServiceContext {
            run_as: Some(&bad),
            ..ctx(None, false)
        }
    )
    .is_err());
}
