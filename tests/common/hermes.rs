//! The real Hermes agent (hermes-agent on PyPI, pinned by scripts/hermes-venv.sh):
//! finding its venv, a user's environment, a profile, its watchdog switch and the
//! spec `respawn spec --preset hermes` makes for it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv scripts/hermes-venv.sh made, or None (the test says SKIP) unless
/// RESPAWN_REQUIRE_HERMES=1 makes its absence a failure.
pub fn venv() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("RESPAWN_HERMES_VENV").map(PathBuf::from),
        Some(PathBuf::from("/var/cache/respawn/hermes-venv")),
        dirs::cache_dir().map(|c| c.join("respawn/hermes-venv")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|v| v.join("bin/hermes").is_file());
    if found.is_none() {
        let msg = "no Hermes venv: run scripts/hermes-venv.sh (or set RESPAWN_HERMES_VENV)";
        assert!(
            std::env::var_os("RESPAWN_REQUIRE_HERMES").is_none(),
            "{msg}"
        );
        eprintln!("SKIP: {msg}");
    }
    found
}

/// A user with a private HOME and one Hermes profile in it.
pub struct Hermes {
    pub venv: PathBuf,
    pub home: PathBuf,
    pub profile: String,
}

impl Hermes {
    /// `hermes profile create PROFILE` in a fresh HOME.
    pub fn with_profile(venv: PathBuf, home: PathBuf, profile: &str) -> Hermes {
        std::fs::create_dir_all(&home).unwrap();
        let h = Hermes {
            venv,
            home,
            profile: profile.to_string(),
        };
        let mut create = Command::new(h.venv.join("bin/hermes"));
        create.args(["profile", "create", profile]);
        h.user_env(&mut create);
        let out = create.output().unwrap();
        assert!(out.status.success(), "hermes profile create: {out:?}");
        h
    }

    pub fn profile_home(&self) -> PathBuf {
        self.home.join(".hermes/profiles").join(&self.profile)
    }

    /// The variables of [`Hermes::user_env`], as pairs (for a spec's `[env]`, where
    /// no login session provides them: a systemd system service).
    pub fn user_vars(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            self.venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            ("HOME".into(), self.home.display().to_string()),
            ("VIRTUAL_ENV".into(), self.venv.display().to_string()),
            ("PATH".into(), path),
            // Hermes otherwise downloads its optional `tirith` scanner.
            ("TIRITH_ENABLED".into(), "0".into()),
        ]
    }

    /// The environment of a user who activated the venv: a private HOME, the venv
    /// first on PATH, and Hermes' download of its optional `tirith` scanner turned off.
    pub fn user_env(&self, cmd: &mut Command) {
        cmd.envs(self.user_vars()).env_remove("HERMES_HOME");
    }

    /// Turn on Hermes' own sd_notify watchdog (opt-in: any positive number; the
    /// interval it feeds is the WATCHDOG_USEC it is given), with the config.yaml lines
    /// the preset's comment gives: what a user following it writes.
    pub fn enable_watchdog(&self) {
        std::fs::write(
            self.profile_home().join("config.yaml"),
            preset_watchdog_yaml().replace(": 60", ": 2"),
        )
        .unwrap();
    }

    /// What `respawn spec --preset hermes --profile PROFILE` prints for this user
    /// (`respawn` is a command for the respawn under test).
    pub fn preset_spec(&self, mut respawn: Command) -> String {
        respawn.args(["spec", "--preset", "hermes", "--profile", &self.profile]);
        self.user_env(&mut respawn);
        let out = respawn.output().unwrap();
        assert!(out.status.success(), "respawn spec: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// The preset's spec as a user makes it once Hermes' watchdog is on: wait for its
    /// READY=1 (`ready = "notify"`), with a short interval so the test is quick.
    pub fn watchdog_spec(&self, respawn: Command) -> String {
        let preset = self.preset_spec(respawn);
        assert!(preset.contains("\nwatchdog = \"60s\"\n"), "{preset}");
        assert!(preset.contains("\nready = \"pid-file\"\n"), "{preset}");
        preset
            .replace("\nready = \"pid-file\"\n", "\nready = \"notify\"\n")
            .replace("\nwatchdog = \"60s\"\n", "\nwatchdog = \"2s\"\n")
    }
}

/// Add `vars` to the spec's `[env]` table (the preset always has one).
pub fn with_env(spec: &str, vars: &[(String, String)]) -> String {
    let lines: String = vars
        .iter()
        .map(|(k, v)| format!("{k} = {}\n", toml::Value::String(v.clone())))
        .collect();
    assert!(spec.contains("\n[env]\n"), "{spec}");
    spec.replacen("\n[env]\n", &format!("\n[env]\n{lines}"), 1)
}

/// Whether `path` names the venv's hermes (a check on the preset's `command`).
pub fn command_is(spec: &str, hermes: &Path) -> bool {
    spec.contains(&format!("command = \"{}\"", hermes.display()))
}

/// The config.yaml lines the Hermes preset's comment tells a user to write to turn on
/// Hermes' watchdog: the comment lines from `gateway:` on that look like YAML,
/// without the comment marks.
pub fn preset_watchdog_yaml() -> String {
    let spec =
        std::fs::read_to_string(super::repo_root().join("presets/hermes/spec.toml")).unwrap();
    let lines: Vec<&str> = spec
        .lines()
        .map(|l| l.strip_prefix('#').unwrap_or(l))
        .skip_while(|l| l.trim() != "gateway:")
        .take_while(|l| l.trim() == "gateway:" || l.trim().starts_with("systemd_watchdog_seconds:"))
        .collect();
    assert!(
        lines.len() == 2,
        "the preset's comment gives no `gateway:` / `systemd_watchdog_seconds:` block: {lines:?}"
    );
    let indent = lines[0].len() - lines[0].trim_start().len();
    lines
        .iter()
        .map(|l| format!("{}\n", &l[indent..]))
        .collect()
}
