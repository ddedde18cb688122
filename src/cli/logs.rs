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

/// As many rotated files as exist are read, up to a sane bound.
const MAX_ROTATED: u32 = 100;

pub fn logs(
    state_root: &Path,
    name: &str,
    follow: bool,
    lines: LineCount,
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
    match logs::tail_lines(&log_file, lines.0, MAX_ROTATED) {
        Ok(lines) => lines.iter().for_each(say),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => {
            return Err(CliError::new(
                ExitStatus::NotInstalled,
                format!("no logs for {name}: {e}"),
                "has the service run yet? check the name and --state-dir",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    if follow {
        match logs::follow(&log_file, &mut std::io::stdout()) {
            // The reader went away (`| head`): done.
            Err(e) if super::reader_gone(&e) => {}
            other => other?,
        }
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_counts_are_numbers_or_all() {
        assert_eq!("0".parse(), Ok(LineCount(0)));
        assert_eq!("25".parse(), Ok(LineCount(25)));
        assert_eq!("all".parse(), Ok(LineCount(usize::MAX)));
        assert!("-1".parse::<LineCount>().is_err());
        assert!("some".parse::<LineCount>().is_err());
    }
}
