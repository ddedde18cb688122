//! The child's environment (the user's block, the spec's variables over it) and its
//! identity as read back from its token (user, session, logon kind).

use serde::{Deserialize, Serialize};

// ---- the child's environment and identity ----

/// The child's environment: the user's own block (from CreateEnvironmentBlock, so
/// HOME/APPDATA/PATH are the user's), with the spec's `env` on top. Windows names are
/// case-insensitive (`Path` and `PATH` are one variable); the block is sorted the way
/// CreateProcess wants it.
pub fn merge_env(
    user_block: &[(String, String)],
    spec_env: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(user_block.len() + spec_env.len());
    let pairs = user_block
        .iter()
        .map(|(k, v)| (k, v))
        .chain(spec_env.iter());
    for (k, v) in pairs {
        match out
            .iter_mut()
            .find(|(have, _)| have.eq_ignore_ascii_case(k))
        {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out.sort_by_key(|(k, _)| k.to_uppercase());
    out
}

/// Split a `NAME=value\0...\0\0` environment block (UTF-16 already decoded per entry).
/// Entries that start with `=` (the per-drive current directories) are kept whole.
pub fn parse_env_entries<'a>(entries: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    entries
        .into_iter()
        .filter_map(|e| {
            let split = e.char_indices().skip(1).find(|&(_, c)| c == '=')?.0;
            Some((e[..split].to_string(), e[split + 1..].to_string()))
        })
        .collect()
}

/// How a token was logged on: the `logon` of `status --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Logon {
    /// A user's interactive logon: their session, Credential Manager, DPAPI.
    Interactive,
    /// A service-for-user logon (looks like a network or batch logon).
    S4u,
    /// LocalSystem.
    System,
    /// A service logon of another account.
    Service,
    Unknown,
}

impl Logon {
    pub fn as_str(self) -> &'static str {
        match self {
            Logon::Interactive => "interactive",
            Logon::S4u => "s4u",
            Logon::System => "system",
            Logon::Service => "service",
            Logon::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Logon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Logon {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How a token was logged on, from its user and group SIDs.
pub fn logon_kind(user_sid: &str, group_sids: &[String]) -> Logon {
    let has = |sid: &str| group_sids.iter().any(|g| g == sid);
    if user_sid == "S-1-5-18" {
        Logon::System
    } else if has("S-1-5-4") {
        Logon::Interactive
    } else if has("S-1-5-2") || has("S-1-5-3") {
        // Network or batch: how an S4U logon without SE_TCB looks
        Logon::S4u
    } else if has("S-1-5-6") {
        Logon::Service
    } else {
        Logon::Unknown
    }
}

/// Who the child runs as, read back from its token (Windows): recorded by the
/// supervisor at each start and shown by `status --json` as `user`, `user_sid`,
/// `session` and `logon`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildIdentity {
    /// `PC\ann`
    pub user: String,
    pub user_sid: String,
    pub session: u32,
    pub logon: Logon,
}
