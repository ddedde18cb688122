//! Presets: ready-made specs for programs people commonly keep up, kept as data.
//!
//! A preset is two TOML files compiled in from `presets/<name>/`: `preset.toml` says
//! where the program and its home are found, and `spec.toml` is the spec template,
//! with `@program@` and `@home@` inside its strings. Adding a preset is adding a
//! folder and one line in [`PRESETS`]; no code branches on a preset's name.
//!
//! Rendering is pure (facts in, spec text out); [`locate`] gathers the facts.

pub mod locate;

use crate::quote::toml::basic_string_inner;
use crate::spec::{check_name, Spec};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every preset: (name, preset.toml, spec.toml).
const PRESETS: &[(&str, &str, &str)] = &[(
    "hermes",
    include_str!("../../presets/hermes/preset.toml"),
    include_str!("../../presets/hermes/spec.toml"),
)];

/// A preset's `preset.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// The spec's `name`.
    pub name: String,
    pub summary: String,
    /// The program to find, by its bare name.
    pub program: String,
    /// Said when the program can't be found.
    pub install_hint: String,
    /// The characters a profile name may use (beyond respawn's own name rules).
    pub profile_chars: Option<String>,
    pub home: HomeRules,
    /// Lines the program logs that mean "running, but of no use" (`doctor` shows them
    /// with what to do).
    #[serde(default)]
    pub warnings: Vec<LogWarning>,
    #[serde(skip)]
    template: &'static str,
}

/// A line a preset's program writes when it runs but cannot do its job.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogWarning {
    /// Text the line contains.
    pub contains: String,
    /// What it means, for people.
    pub means: String,
    /// What to do; `{name}` is the service.
    pub fix: String,
}

/// The warnings of the preset whose spec `name` is `spec_name`, if any.
pub fn warnings_for(spec_name: &str) -> Vec<LogWarning> {
    get(spec_name).map(|p| p.warnings).unwrap_or_default()
}

/// The known warnings found in `lines` (the current run's output), each once. Pure.
pub fn find_warnings<'a>(warnings: &'a [LogWarning], lines: &[String]) -> Vec<&'a LogWarning> {
    warnings
        .iter()
        .filter(|w| lines.iter().any(|l| l.contains(&w.contains)))
        .collect()
}

/// Where the program keeps its data, and where a profile's data goes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeRules {
    /// The environment variable that overrides the home.
    pub env: String,
    /// Default home; `~` is the user's home folder.
    pub default: String,
    /// Default home on Windows; `%NAME%` is an environment variable.
    pub default_windows: String,
    /// A profile's home is `<root>/<profiles_dir>/<profile>`.
    pub profiles_dir: String,
    /// Said when a named profile's home does not exist; `{profile}` is filled in.
    pub missing_profile_hint: String,
}

/// The facts about this machine a preset is rendered with.
#[derive(Clone, Debug)]
pub struct Facts {
    pub windows: bool,
    /// The program's full path, already found.
    pub program: PathBuf,
    /// The user's home folder.
    pub user_home: PathBuf,
    /// The environment variables the home rules may read.
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PresetError {
    #[error("there is no preset `{0}`; available: {list}", list = names().join(", "))]
    Unknown(String),
    #[error("profile `{profile}`: {reason}")]
    BadProfile { profile: String, reason: String },
    #[error("{0}")]
    Missing(String),
}

/// Names of all presets.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(name, _, _)| *name).collect()
}

/// Look a preset up by name.
pub fn get(name: &str) -> Result<Preset, PresetError> {
    let (_, meta, template) = PRESETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| PresetError::Unknown(name.to_string()))?;
    let mut preset: Preset =
        toml::from_str(meta).unwrap_or_else(|e| panic!("presets/{name}/preset.toml: {e}"));
    preset.template = template;
    Ok(preset)
}

impl Preset {
    /// Check a profile name against respawn's rules and the program's own.
    pub fn check_profile(&self, profile: &str) -> Result<(), PresetError> {
        let bad = |reason: String| PresetError::BadProfile {
            profile: profile.to_string(),
            reason,
        };
        check_name("profile", profile).map_err(bad)?;
        if let Some(allowed) = &self.profile_chars {
            if let Some(c) = profile.chars().find(|c| !allowed.contains(*c)) {
                return Err(bad(format!(
                    "`{c}` is not allowed; {} profiles use only these characters: {allowed}",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// The home the service runs with: the profile's home when a profile is named,
    /// else the home from the environment or the default.
    pub fn home(&self, facts: &Facts, profile: Option<&str>) -> PathBuf {
        let from_env = facts
            .env
            .get(&self.home.env)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let default = self.default_home(facts);
        match profile {
            None => from_env.unwrap_or(default),
            Some(p) => {
                let root = match from_env {
                    Some(env_home) => self.root_of(&env_home, &default),
                    None => default,
                };
                let profiles = join_for_target(facts, &root, &self.home.profiles_dir);
                join_for_target(facts, &profiles, p)
            }
        }
    }

    /// The root above profiles for a home from the environment: the default home if
    /// it is inside it, the grandparent if it already is a profile's home, else itself.
    fn root_of(&self, env_home: &Path, default: &Path) -> PathBuf {
        if env_home.starts_with(default) {
            return default.to_path_buf();
        }
        let parent_is_profiles = env_home
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == self.home.profiles_dir.as_str());
        match env_home.parent().and_then(Path::parent) {
            Some(root) if parent_is_profiles => root.to_path_buf(),
            _ => env_home.to_path_buf(),
        }
    }

    fn default_home(&self, facts: &Facts) -> PathBuf {
        if facts.windows {
            PathBuf::from(expand_percent_vars(&self.home.default_windows, &facts.env))
        } else {
            match self.home.default.strip_prefix("~/") {
                Some(rest) => join_for_target(facts, &facts.user_home, rest),
                None => PathBuf::from(&self.home.default),
            }
        }
    }

    /// The spec text for this machine, ready to save and edit.
    pub fn render(&self, facts: &Facts, profile: Option<&str>) -> Result<String, PresetError> {
        if let Some(p) = profile {
            self.check_profile(p)?;
        }
        let home = self.home(facts, profile);
        let mut text = format!(
            "# {summary}\n# Made by `respawn spec --preset {name}{flag}`; edit freely, then\n# `respawn install --spec THIS_FILE`.\n",
            summary = self.summary,
            name = self.name,
            flag = profile.map(|p| format!(" --profile {p}")).unwrap_or_default(),
        );
        text.push_str(&format!("name = \"{}\"\n", basic_string_inner(&self.name)));
        if let Some(p) = profile {
            text.push_str(&format!("profile = \"{}\"\n", basic_string_inner(p)));
        }
        let template = fill(self.template, "@program@", &facts.program, facts.windows);
        text.push_str(&fill(&template, "@home@", &home, facts.windows));
        Ok(text)
    }

    /// Render and parse: the spec a preset install runs.
    pub fn spec(
        &self,
        facts: &Facts,
        profile: Option<&str>,
    ) -> Result<(String, Spec), PresetError> {
        let text = self.render(facts, profile)?;
        let spec = Spec::parse(&text, None, Path::new("/")).unwrap_or_else(|e| {
            panic!("preset {} renders an invalid spec: {e}\n{text}", self.name)
        });
        Ok((text, spec))
    }
}

/// `base` + `rest` with the target OS's separator, not the host's: a spec for
/// Windows rendered on Linux (and the other way round in tests) gets its own paths.
fn join_for_target(facts: &Facts, base: &Path, rest: &str) -> PathBuf {
    let sep = if facts.windows { '\\' } else { '/' };
    let base = base.to_string_lossy();
    let base = base.trim_end_matches(sep);
    PathBuf::from(format!("{base}{sep}{rest}"))
}

/// Put `value` (a path) where `placeholder` is, TOML-escaped. A `/a/b` right after
/// the placeholder is a path below it, written with the target OS's separator.
fn fill(template: &str, placeholder: &str, value: &Path, windows: bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(placeholder) {
        out.push_str(&rest[..at]);
        rest = &rest[at + placeholder.len()..];
        let suffix_len = rest.find(['"', '\'', '\n']).unwrap_or(rest.len());
        let mut path = value.to_string_lossy().into_owned();
        let suffix = &rest[..suffix_len];
        if windows {
            path.push_str(&suffix.replace('/', "\\"));
        } else {
            path.push_str(suffix);
        }
        out.push_str(&basic_string_inner(&path));
        rest = &rest[suffix_len..];
    }
    out.push_str(rest);
    out
}

/// `%NAME%` → the variable's value (left as is when unset), as cmd.exe would.
fn expand_percent_vars(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) => {
                let name = &after[..end];
                out.push_str(&rest[..start]);
                let value = env
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str());
                match value {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + end + 2]),
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_facts(env: &[(&str, &str)]) -> Facts {
        Facts {
            windows: false,
            program: PathBuf::from("/home/ann/venv/bin/hermes"),
            user_home: PathBuf::from("/home/ann"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn every_preset_renders_a_valid_spec() {
        for name in names() {
            let preset = get(name).unwrap();
            preset.spec(&unix_facts(&[]), None).unwrap();
            preset.spec(&unix_facts(&[]), Some("work")).unwrap();
        }
    }

    #[test]
    fn home_follows_the_environment_and_the_profile() {
        let p = get("hermes").unwrap();
        let home = |env: &[(&str, &str)], profile| p.home(&unix_facts(env), profile);
        assert_eq!(home(&[], None), Path::new("/home/ann/.hermes"));
        assert_eq!(
            home(&[], Some("work")),
            Path::new("/home/ann/.hermes/profiles/work")
        );
        // A custom root (Docker style) holds its own profiles.
        assert_eq!(
            home(&[("HERMES_HOME", "/opt/data")], None),
            Path::new("/opt/data")
        );
        assert_eq!(
            home(&[("HERMES_HOME", "/opt/data")], Some("work")),
            Path::new("/opt/data/profiles/work")
        );
        // HERMES_HOME already a profile's home: its root holds the other profiles.
        assert_eq!(
            home(&[("HERMES_HOME", "/opt/data/profiles/coder")], Some("work")),
            Path::new("/opt/data/profiles/work")
        );
        assert_eq!(
            home(
                &[("HERMES_HOME", "/home/ann/.hermes/profiles/coder")],
                Some("work")
            ),
            Path::new("/home/ann/.hermes/profiles/work")
        );
        assert_eq!(
            home(&[("HERMES_HOME", "  ")], None),
            Path::new("/home/ann/.hermes")
        );
    }

    #[test]
    fn windows_home_expands_localappdata() {
        let p = get("hermes").unwrap();
        let facts = Facts {
            windows: true,
            program: PathBuf::from(r"C:\Users\Ann Lee\venv\Scripts\hermes.exe"),
            user_home: PathBuf::from(r"C:\Users\Ann Lee"),
            env: [(
                "LocalAppData".to_string(),
                r"C:\Users\Ann Lee\AppData\Local".to_string(),
            )]
            .into(),
        };
        assert_eq!(
            p.home(&facts, None).to_string_lossy(),
            r"C:\Users\Ann Lee\AppData\Local\hermes"
        );
    }

    #[test]
    fn profiles_hermes_rejects_are_refused() {
        let p = get("hermes").unwrap();
        for bad in ["Work", "a b", "-x", ""] {
            assert!(
                matches!(p.check_profile(bad), Err(PresetError::BadProfile { .. })),
                "{bad}"
            );
        }
        p.check_profile("work_2-x").unwrap();
    }

    #[test]
    fn unknown_preset_lists_the_known_ones() {
        assert_eq!(
            get("nope").unwrap_err().to_string(),
            "there is no preset `nope`; available: hermes"
        );
    }

    #[test]
    fn percent_vars_expand_case_insensitively_and_unknown_ones_stay() {
        let env: BTreeMap<_, _> = [("LOCALAPPDATA".to_string(), "C:\\L".to_string())].into();
        assert_eq!(expand_percent_vars("%localappdata%\\h", &env), "C:\\L\\h");
        assert_eq!(expand_percent_vars("%NOPE%\\h %", &env), "%NOPE%\\h %");
    }
}
