//! `respawn logs NAME [-n N|all] [-f]`: the service's captured output.

use super::say;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::ServicePaths;
use crate::supervisor::logs;
use std::path::Path;

/// `-n`: a number of lines, or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCount(pub usize);

impl std::str::FromStr for LineCount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(LineCount(usize::MAX));
        }
        s.parse()
            .map(LineCount)
            .map_err(|_| format!("{s:?} is not a number of lines; give a number or `all`"))
    }
}

/// `--since`: a duration back from now, or a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Since(pub std::time::SystemTime);

impl std::str::FromStr for Since {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(t) = humantime::parse_rfc3339_weak(s) {
            return Ok(Since(t));
        }
        let back = humantime::parse_duration(s).map_err(|_| {
            format!("{s:?} is neither a duration (`10m`, `2h`) nor a time (`2026-05-01T12:00:00Z`)")
        })?;
        std::time::SystemTime::now()
            .checked_sub(back)
            .map(Since)
            .ok_or_else(|| format!("{s:?} is too long ago"))
    }
}

/// `--since` and `--grep`.
#[derive(Debug, Default)]
pub struct Filter {
    pub since: Option<Since>,
    pub grep: Option<String>,
}

impl Filter {
    fn is_set(&self) -> bool {
        self.since.is_some() || self.grep.is_some()
    }

    /// The lines that pass, the last `n` of them.
    fn apply(&self, mut lines: Vec<String>, n: usize) -> Vec<String> {
        if let Some(Since(cutoff)) = self.since {
            lines = crate::supervisor::stamp::since(lines, cutoff);
        }
        if let Some(text) = &self.grep {
            lines.retain(|l| l.contains(text.as_str()));
        }
        let skip = lines.len().saturating_sub(n);
        lines.split_off(skip)
    }
}

/// What `-f` prints: every line, or with `--grep` only the lines that contain the text
/// (a line cut between two reads is kept until its end arrives).
struct Grep<W: std::io::Write> {
    out: W,
    text: Option<String>,
    partial: Vec<u8>,
}

impl<W: std::io::Write> Grep<W> {
    fn new(out: W, text: Option<String>) -> Self {
        Grep {
            out,
            text,
            partial: Vec::new(),
        }
    }
}

impl<W: std::io::Write> std::io::Write for Grep<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(text) = &self.text else {
            return self.out.write(buf);
        };
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if String::from_utf8_lossy(&line).contains(text.as_str()) {
                self.out.write_all(&line)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// As many rotated files as exist are read, up to a sane bound.
const MAX_ROTATED: u32 = 100;

pub fn logs(
    state_root: &Path,
    name: &str,
    follow: bool,
    lines: LineCount,
    filter: &Filter,
) -> Result<ExitStatus, CliError> {
    let paths = ServicePaths::new(state_root, name);
    let log_file = paths.recorded_log_file();
    // A supervisor that died before it could log left its words here.
    if let Some(why) = crate::supervisor::client::startup_error(&paths) {
        if !log_file.exists() {
            say(format!("[respawn] the supervisor failed at start: {why}"));
            return Ok(ExitStatus::Success);
        }
    }
    let wanted = if filter.is_set() { usize::MAX } else { lines.0 };
    match logs::tail_lines(&log_file, wanted, MAX_ROTATED) {
        Ok(found) => filter.apply(found, lines.0).iter().for_each(say),
        // `-f` waits for the log of a service that exists but has not run yet; for a
        // name nothing knows it would wait forever, so it is told as `logs` tells it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && (!follow || !known(&paths)) => {
            let hint = match super::control::closest_service(state_root, name) {
                Some(other) => format!("did you mean {other}? (`respawn logs {other}`)"),
                None => "has the service run yet? check the name and --state-dir".into(),
            };
            return Err(CliError::new(
                ExitStatus::NotInstalled,
                format!("no logs for {name}: {e}"),
                hint,
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    if follow {
        let mut out = Grep::new(std::io::stdout(), filter.grep.clone());
        match logs::follow(&log_file, &mut out) {
            // The reader went away (`| head`): done.
            Err(e) if super::reader_gone(&e) => {}
            other => other?,
        }
    }
    Ok(ExitStatus::Success)
}

/// `respawn logs` without a name: every service's last lines, each after its name.
pub fn all(
    roots: &crate::state::StateRoots,
    follow: bool,
    lines: LineCount,
    filter: &Filter,
) -> Result<ExitStatus, CliError> {
    if follow {
        return Err(CliError::bad_input(
            "-f follows one service",
            "name it: `respawn logs NAME -f` (`respawn list` shows the names)",
        ));
    }
    let services = roots.known_services();
    if services.is_empty() {
        say("no services (install one with `respawn install FILE`)");
    }
    let width = services.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, root) in services {
        let paths = ServicePaths::new(&root, &name);
        let wanted = if filter.is_set() { usize::MAX } else { lines.0 };
        // A service that has not written a log yet has nothing to show.
        let Ok(found) = logs::tail_lines(&paths.recorded_log_file(), wanted, MAX_ROTATED) else {
            continue;
        };
        for line in filter.apply(found, lines.0) {
            say(format!("{name:<width$} | {line}"));
        }
    }
    Ok(ExitStatus::Success)
}

/// A service this state root knows: installed, or run in the foreground.
fn known(paths: &ServicePaths) -> bool {
    paths.install_record().is_file() || paths.state_file().is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_with_grep_keeps_whole_matching_lines() {
        use std::io::Write;
        let mut out = Vec::new();
        let mut g = Grep::new(&mut out, Some("err".into()));
        g.write_all(b"one\nan er").unwrap();
        g.write_all(b"ror here\nthree\nerr").unwrap();
        assert_eq!(out, b"an error here\n");
        let mut all = Vec::new();
        Grep::new(&mut all, None).write_all(b"a\nb").unwrap();
        assert_eq!(all, b"a\nb");
    }

    #[test]
    fn line_counts_are_numbers_or_all() {
        assert_eq!("0".parse(), Ok(LineCount(0)));
        assert_eq!("25".parse(), Ok(LineCount(25)));
        assert_eq!("all".parse(), Ok(LineCount(usize::MAX)));
        assert!("-1".parse::<LineCount>().is_err());
        assert!("some".parse::<LineCount>().is_err());
    }
}
