//! `--native` has no supervisor to read `env_file` at each start, so a native unit or
//! job refuses it rather than silently starting the program without its secrets.

use respawn::render::launchd::render_plist;
use respawn::render::systemd::render_unit;
use respawn::render::ServiceContext;
use respawn::spec::Spec;
use std::path::Path;

fn spec() -> Spec {
    Spec::parse(
        "name = \"x\"\ncommand = \"/bin/x\"\nenv_file = \"x.env\"\n",
        None,
        Path::new("/etc/respawn"),
    )
    .unwrap()
}

fn systemd(native: Option<&Path>) -> ServiceContext<'_> {
    ServiceContext {
        respawn_exe: Path::new("/usr/local/bin/respawn"),
        spec_path: Path::new("/etc/respawn/x.toml"),
        state_root: Path::new("/var/lib/respawn"),
        native_program: native,
        systemd_version: 252,
        user_scope: false,
        run_as: None,
        launchd_log: None,
    }
}

fn launchd(native: Option<&Path>) -> ServiceContext<'_> {
    ServiceContext {
        respawn_exe: Path::new("/usr/local/bin/respawn"),
        spec_path: Path::new("/etc/respawn/x.toml"),
        state_root: Path::new("/var/lib/respawn"),
        native_program: native,
        user_scope: false,
        run_as: None,
        systemd_version: 0,
        launchd_log: Some(Path::new("/var/lib/respawn/x/launchd.log")),
    }
}

#[test]
fn native_units_and_jobs_refuse_env_file_supervised_ones_take_it() {
    let program = Some(Path::new("/bin/x"));
    let err = render_unit(&spec(), &systemd(program)).unwrap_err();
    assert!(err.to_string().contains("cannot use env_file"), "{err}");
    assert!(err.to_string().contains("without --native"), "{err}");
    let err = render_plist(&spec(), &launchd(program)).unwrap_err();
    assert!(err.to_string().contains("cannot use env_file"), "{err}");
    // Supervised, respawn reads the file itself.
    render_unit(&spec(), &systemd(None)).unwrap();
    render_plist(&spec(), &launchd(None)).unwrap();
}
