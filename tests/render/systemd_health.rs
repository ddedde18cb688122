//! `[health]` in native systemd units: sd_notify readiness becomes Type=notify with
//! the ready timeout as TimeoutStartSec=, the watchdog WatchdogSec=. A supervised
//! unit is unchanged: the supervisor serves the child's notify socket itself.
#![cfg(unix)]

use respawn::render::systemd::render_unit;
use respawn::render::ServiceContext;
use respawn::spec::Spec;
use std::path::Path;

const SPEC: &str = r#"
name = "gw"
command = "/opt/gw/bin/gateway"
[health]
ready = "notify"
ready_timeout = "2m"
watchdog = "30s"
"#;

fn ctx(native: Option<&Path>) -> ServiceContext<'_> {
    ServiceContext {
        respawn_exe: Path::new("/usr/local/bin/respawn"),
        spec_path: Path::new("/etc/respawn/gw.toml"),
        state_root: Path::new("/var/lib/respawn"),
        native_program: native,
        systemd_version: 255,
        user_scope: false,
        run_as: None,
        launchd_log: None,
    }
}

#[test]
fn native_unit_with_notify_readiness_and_watchdog_golden() {
    let spec = Spec::parse(SPEC, None, Path::new("/srv")).unwrap();
    let unit = render_unit(&spec, &ctx(Some(Path::new("/opt/gw/bin/gateway")))).unwrap();
    assert_eq!(
        unit,
        r#"# Installed by respawn
# Changes here are replaced by the next `respawn install`; edit the spec instead.

[Unit]
Description=gw, kept running by respawn
After=network.target
StartLimitIntervalSec=0

[Service]
Type=notify
WatchdogSec=30s
NotifyAccess=main
TimeoutStartSec=120s
ExecStart="/opt/gw/bin/gateway"
Restart=always
RestartSec=1s
RestartSteps=8
RestartMaxDelaySec=64s
KillMode=control-group
KillSignal=SIGTERM
TimeoutStopSec=10s

[Install]
WantedBy=multi-user.target
"#
    );
}

#[test]
fn watchdog_alone_keeps_type_exec() {
    let spec = Spec::parse(
        "name = \"gw\"\ncommand = \"/bin/gw\"\n[health]\nwatchdog = \"1500ms\"\n",
        None,
        Path::new("/srv"),
    )
    .unwrap();
    let unit = render_unit(&spec, &ctx(Some(Path::new("/bin/gw")))).unwrap();
    assert!(
        unit.contains("Type=exec\nWatchdogSec=1500ms\nNotifyAccess=main\n"),
        "{unit}"
    );
    let supervised = render_unit(&spec, &ctx(None)).unwrap();
    assert!(
        !supervised.contains("Watchdog") && !supervised.contains("Notify"),
        "{supervised}"
    );
}
