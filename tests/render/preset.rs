//! Presets: golden renderings per OS and profile, the names each OS gets, and the
//! CLI (`respawn spec --preset`, `install --preset`) with a stand-in program found
//! the ways a real one would be. The real Hermes gateway runs in tests/hermes/gateway.rs.

use crate::common::*;
use respawn::naming;
use respawn::preset::{self, Facts};
use respawn::render::{launchd, scm, systemd};
use std::path::{Path, PathBuf};

/// Compare with tests/golden/<name>; `UPDATE_GOLDEN=1` rewrites the file instead.
fn golden(name: &str, actual: &str) {
    let path = repo_root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, want, "{name} differs from its golden file");
}

fn linux_facts() -> Facts {
    Facts {
        windows: false,
        program: PathBuf::from("/home/ann/.venvs/hermes/bin/hermes"),
        user_home: PathBuf::from("/home/ann"),
        env: Default::default(),
    }
}

fn windows_facts() -> Facts {
    Facts {
        windows: true,
        program: PathBuf::from(r"C:\Users\Ann Lee\venv\Scripts\hermes.exe"),
        user_home: PathBuf::from(r"C:\Users\Ann Lee"),
        env: [(
            "LOCALAPPDATA".to_string(),
            r"C:\Users\Ann Lee\AppData\Local".to_string(),
        )]
        .into(),
    }
}

#[test]
fn hermes_spec_golden_per_os_and_profile() {
    let hermes = preset::get("hermes").unwrap();
    for (file, facts, profile) in [
        ("hermes-linux.toml", linux_facts(), None),
        ("hermes-linux-work.toml", linux_facts(), Some("work")),
        ("hermes-windows-work.toml", windows_facts(), Some("work")),
    ] {
        golden(file, &hermes.render(&facts, profile).unwrap());
    }
}

#[test]
fn hermes_gets_each_os_name_and_stays_off_hermes_own_names() {
    let hermes = preset::get("hermes").unwrap();
    let (_, plain) = hermes.spec(&linux_facts(), None).unwrap();
    let (_, work) = hermes.spec(&linux_facts(), Some("work")).unwrap();
    assert_eq!(naming::windows_service(&plain), "HermesGateway");
    assert_eq!(naming::windows_service(&work), "HermesGateway-work");
    assert_eq!(
        naming::systemd_unit(&plain),
        "respawn-hermes-gateway.service"
    );
    assert_eq!(
        naming::systemd_unit(&work),
        "respawn-hermes-gateway-work.service"
    );
    assert_eq!(
        naming::launchd_label(&work),
        "ai.respawn.hermes-gateway.work"
    );
    assert_eq!(work.id(), "hermes-work");
    assert_eq!(work.restart.force_restart_exit_codes, [75]);
    assert_eq!(work.restart.prevent_restart_exit_codes, [78]);
    assert!(work.stop.timeout.as_secs() >= 60);
}

/// Hermes kills processes whose argv has a token `hermes-gateway`, or `hermes`
/// followed by `gateway run`. respawn's own command lines, in every rendering and
/// for every CLI use of the service's id, must have neither.
#[test]
fn no_respawn_command_line_looks_like_a_hermes_gateway() {
    let looks_like_gateway = |argv: &[String]| {
        argv.iter()
            .any(|t| t == "hermes-gateway" || t == "hermes-gateway.exe")
            || argv.windows(3).any(|w| {
                (w[0] == "hermes" || w[0] == "hermes_cli.main")
                    && w[1] == "gateway"
                    && w[2] == "run"
            })
    };
    let hermes = preset::get("hermes").unwrap();
    for profile in [None, Some("work")] {
        let (_, spec) = hermes.spec(&linux_facts(), profile).unwrap();
        let ctx = systemd_ctx();
        let unit = systemd::render_unit(&spec, &ctx).unwrap();
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        let argv = respawn::quote::systemd::split_exec_line(exec).unwrap();
        assert!(!looks_like_gateway(&argv), "{argv:?}");
        let (_, spec) = hermes.spec(&windows_facts(), profile).unwrap();
        let cfg = scm::render(&spec, &scm_ctx());
        let argv = respawn::quote::windows::split_command_line(&cfg.image_path());
        assert!(!looks_like_gateway(&argv), "{argv:?}");
        for verb in ["status", "logs", "stop", "restart"] {
            let argv = ["respawn".to_string(), verb.into(), spec.id()];
            assert!(!looks_like_gateway(&argv), "{argv:?}");
        }
    }
}

fn systemd_ctx() -> respawn::render::ServiceContext<'static> {
    respawn::render::ServiceContext {
        respawn_exe: Path::new("/usr/local/bin/respawn"),
        spec_path: Path::new("/home/ann/.local/state/respawn/hermes-work/spec.toml"),
        state_root: Path::new("/home/ann/.local/state/respawn"),
        native_program: None,
        systemd_version: 252,
        user_scope: true,
        run_as: None,
        launchd_log: None,
    }
}

fn scm_ctx() -> scm::ScmContext<'static> {
    scm::ScmContext {
        respawn_exe: Path::new(r"C:\Program Files\respawn\respawn.exe"),
        spec_path: Path::new(r"C:\ProgramData\respawn\hermes-work\spec.toml"),
        state_root: Path::new(r"C:\ProgramData\respawn"),
    }
}

#[test]
fn hermes_artefacts_golden() {
    let hermes = preset::get("hermes").unwrap();
    let (_, spec) = hermes.spec(&linux_facts(), Some("work")).unwrap();
    golden(
        "hermes-work.service",
        &systemd::render_unit(&spec, &systemd_ctx()).unwrap(),
    );
    // launchd paths are joined on the host, so the plist is only compared where
    // launchd lives: Unix hosts (tests/render/launchd.rs is Unix-only for the same reason).
    if cfg!(unix) {
        let ctx = respawn::render::ServiceContext {
            respawn_exe: Path::new("/usr/local/bin/respawn"),
            spec_path: Path::new(
                "/Users/ann/Library/Application Support/respawn/hermes-work/spec.toml",
            ),
            state_root: Path::new("/Users/ann/Library/Application Support/respawn"),
            native_program: None,
            user_scope: true,
            run_as: None,
            systemd_version: 0,
            launchd_log: Some(Path::new(
                "/Users/ann/Library/Application Support/respawn/hermes-work/launchd.log",
            )),
        };
        golden(
            "hermes-work.plist",
            &launchd::render_plist(&spec, &ctx).unwrap(),
        );
    }
    let (_, spec) = hermes.spec(&windows_facts(), Some("work")).unwrap();
    let cfg = scm::render(&spec, &scm_ctx());
    golden(
        "hermes-work.scm.txt",
        &format!(
            "service_name = {}\ndisplay_name = {}\nimage_path = {}\nrestart_delays = {:?}\nreset_period = {:?}\n",
            cfg.service_name,
            cfg.display_name,
            cfg.image_path(),
            cfg.restart_delays,
            cfg.reset_period
        ),
    );
}

// ---- the CLI, with a stand-in `hermes` ----

/// A Harness whose environment hides any real hermes: PATH has only the basics,
/// HOME is the temp dir, no venv is active.
fn isolated(h: &Harness) -> std::process::Command {
    let mut cmd = h.respawn();
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", h.path("home"))
        .env("RESPAWN_STATE_DIR", h.state_root());
    cmd
}

/// A fake `hermes` executable in `<venv>/bin`, as `pip install` would leave it.
#[cfg(unix)]
fn fake_venv(h: &Harness) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let venv = h.path("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    let exe = venv.join("bin/hermes");
    std::fs::write(&exe, "#!/bin/sh\nexec sleep 1000\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    venv
}

#[cfg(unix)]
#[test]
fn spec_finds_the_program_in_the_active_venv_and_prints_an_installable_spec() {
    let h = Harness::new();
    let venv = fake_venv(&h);
    std::fs::create_dir_all(h.path("home/.hermes/profiles/work")).unwrap();
    let out = isolated(&h)
        .env("VIRTUAL_ENV", &venv)
        .args(["spec", "--preset", "hermes", "--profile", "work"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    ok(&out);
    assert!(
        text.contains(&format!(
            "command = \"{}\"",
            venv.join("bin/hermes").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "HERMES_HOME = \"{}\"",
            h.path("home/.hermes/profiles/work").display()
        )),
        "{text}"
    );
    // What it prints is a spec `respawn check` accepts.
    let spec = h.spec("hermes.toml", &text);
    let out = isolated(&h)
        .arg("check")
        .arg("--spec")
        .arg(&spec)
        .output()
        .unwrap();
    ok(&out);
}

#[test]
fn a_missing_program_says_how_to_install_it() {
    let h = Harness::new();
    // `install` needs the program (`spec` prints a placeholder: tests/spec/preset_locate.rs).
    let out = isolated(&h)
        .args(["install", "--preset", "hermes", "--backend", "portable"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`hermes` was not found"), "{stderr}");
    assert!(stderr.contains("pip install hermes-agent"), "{stderr}");
    assert!(stderr.contains("--command PATH"), "{stderr}");
    assert!(!h.state_root().exists(), "nothing was installed");
}

#[cfg(unix)]
#[test]
fn a_missing_or_bad_profile_is_refused_with_the_fix() {
    let h = Harness::new();
    let venv = fake_venv(&h);
    let run = |profile: &str| {
        isolated(&h)
            .env("VIRTUAL_ENV", &venv)
            .args(["install", "--preset", "hermes", "--backend", "portable"])
            .args(["--profile", profile])
            .output()
            .unwrap()
    };
    let out = run("work");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("hermes profile create work"), "{stderr}");
    let out = run("Work");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`W` is not allowed"), "{stderr}");
    // Nothing was created.
    assert!(!h.state_root().exists());
}

#[cfg(unix)]
#[test]
fn install_preset_saves_the_spec_reports_json_and_uninstall_removes_it() {
    let h = Harness::new();
    let venv = fake_venv(&h);
    let hermes_home = h.path("custom-home");
    std::fs::create_dir_all(hermes_home.join("profiles/work")).unwrap();
    let out = isolated(&h)
        .env("VIRTUAL_ENV", &venv)
        .env("HERMES_HOME", &hermes_home)
        .args(["install", "--preset", "hermes", "--profile", "work"])
        .args(["--backend", "portable", "--json"])
        .output()
        .unwrap();
    ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["service"], "hermes-work");
    assert_eq!(report["backend"], "portable");
    assert!(report["fallback_reason"].is_null());
    // The portable backend does not start at install; the report says so.
    assert_eq!(report["state"], "stopped");
    let spec_path = h.service_dir("hermes-work").join("spec.toml");
    assert_eq!(report["spec_path"], spec_path.display().to_string());
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    assert!(
        spec.contains(&format!(
            "HERMES_HOME = \"{}\"",
            hermes_home.join("profiles/work").display()
        )),
        "{spec}"
    );

    let out = isolated(&h)
        .args(["uninstall", "hermes-work"])
        .output()
        .unwrap();
    ok(&out);
    assert!(!spec_path.exists(), "the generated spec is removed");
}
