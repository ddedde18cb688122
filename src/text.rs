//! Words for people: the small formatting helpers every layer that explains
//! something shares (sizes, durations, plurals, paths to paste into a shell). A leaf:
//! it imports nothing of respawn.

use std::path::Path;
use std::time::Duration;

/// "1.4 s", for people.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The plural ending of a count: `""` for one, `"s"` otherwise.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Sizes for people: `512 B`, `3.2 KiB`, `1.0 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = n as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// A path for a shell command line: quoted when it has spaces or quotes.
pub fn shell_path(p: &Path) -> String {
    let s = p.display().to_string();
    if s.contains([' ', '\t', '"', '\'']) {
        format!("\"{}\"", s.replace('"', "\\\""))
    } else {
        s
    }
}

/// A line a lower layer wants the user to read, beside its result. Only the command
/// layer prints (to stderr, as `note: …` or `respawn: warning: …`); backends, the
/// supervisor client and the spec loader return these instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remark {
    Note(String),
    Warning(String),
}

impl std::fmt::Display for Remark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remark::Note(text) => write!(f, "note: {text}"),
            Remark::Warning(text) => write!(f, "respawn: warning: {text}"),
        }
    }
}

/// An error that comes with the remarks made before it (a note the user needs to
/// make sense of the failure, such as "lingering is off"); the CLI prints them first,
/// then the error. Shows as the inner error's whole chain.
#[derive(Debug)]
pub struct Remarked {
    pub remarks: Vec<Remark>,
    pub error: anyhow::Error,
}

impl Remarked {
    /// `error`, carrying `remarks` when there are any.
    pub fn wrap(error: anyhow::Error, remarks: Vec<Remark>) -> anyhow::Error {
        if remarks.is_empty() {
            error
        } else {
            anyhow::Error::new(Remarked { remarks, error })
        }
    }
}

impl std::fmt::Display for Remarked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for Remarked {}
