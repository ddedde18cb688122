//! The spec's `env_file` (secrets for the child): it must parse, only its owner may
//! change it, and others should not read it.

use super::Check;
use crate::envfile::{self, Exposure};
use crate::spec::Spec;

/// None when the spec names no env_file (or could not be read: the spec check says so).
pub fn check(spec: Option<&Spec>) -> Option<Check> {
    const ID: &str = "env-file";
    let path = spec?.env_file.as_ref()?;
    if let Err(why) = envfile::load(path) {
        return Some(Check::fail(
            ID,
            format!("{why}; the service cannot start"),
            "fix the file (KEY=VALUE lines; `respawn help-spec` has the format), or env_file in the spec",
        ));
    }
    Some(match envfile::check_permissions(path) {
        Ok(None) if cfg!(unix) => Check::ok(
            ID,
            format!("{} parses and only its owner can read it", path.display()),
        ),
        Ok(None) => Check::ok(
            ID,
            format!(
                "{} parses (who may read it, its ACL, is not checked on Windows)",
                path.display()
            ),
        ),
        Ok(Some(e)) => {
            let (what, fix) = e.describe(path);
            match e {
                Exposure::Writable { .. } => Check::fail(ID, what, fix),
                Exposure::WorldReadable => Check::warn(ID, what, fix),
            }
        }
        Err(e) => Check::fail(
            ID,
            format!("{}: {e}", path.display()),
            "fix env_file in the spec",
        ),
    })
}
