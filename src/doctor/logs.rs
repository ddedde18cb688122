//! The service's log files: how much room they take, and whether they can be written.

use super::probe::writable;
use super::Ctx;
use super::{Check, LOG_SIZE_WARN};
use crate::state::ServiceState;
use crate::text::{human_bytes, shell_path};
use std::path::{Path, PathBuf};

/// `output.log` and its rotated files `output.log.N`: (path, size, N).
fn log_files(log_file: &Path) -> Vec<(PathBuf, u64, Option<u32>)> {
    let (Some(dir), Some(name)) = (log_file.parent(), log_file.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy().into_owned();
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let n = if file == name {
                None
            } else {
                Some(file.strip_prefix(&name)?.strip_prefix('.')?.parse().ok()?)
            };
            let size = entry.metadata().ok().filter(|m| m.is_file())?.len();
            Some((entry.path(), size, n))
        })
        .collect()
}

pub fn size(log_file: &Path, ctx: &Ctx) -> Check {
    const ID: &str = "log-size";
    let files = log_files(log_file);
    let dir = log_file.parent().unwrap_or(Path::new("."));
    if files.is_empty() {
        return Check::ok(ID, format!("no log files in {} yet", dir.display()));
    }
    let total: u64 = files.iter().map(|f| f.1).sum();
    let limits = ctx.spec.map(|s| (s.logs.max_size, s.logs.keep));
    let bound = limits
        .map(|(max, keep)| {
            format!(
                "; [logs] max_size × (keep + 1) = {} × {} allows {}",
                human_bytes(max),
                keep + 1,
                human_bytes(max.saturating_mul(u64::from(keep) + 1))
            )
        })
        .unwrap_or_default();
    let spec = shell_path(&ctx.inst.spec_path);
    let name = &ctx.inst.service;
    let mut leftovers: Vec<&PathBuf> = match limits {
        Some((_, keep)) => files
            .iter()
            .filter(|f| f.2.is_some_and(|n| n > keep))
            .map(|f| &f.0)
            .collect(),
        None => Vec::new(),
    };
    leftovers.sort();
    let summary = format!(
        "{} log file{} {} in {}{bound}",
        files.len(),
        if files.len() == 1 { " takes" } else { "s take" },
        human_bytes(total),
        dir.display()
    );
    if total > LOG_SIZE_WARN {
        return Check::warn(
            ID,
            format!("{summary}: more than {}", human_bytes(LOG_SIZE_WARN)),
            format!(
                "lower max_size or keep under [logs] in {spec}, then `respawn restart {name}`; \
                 rotated files (output.log.N) can be deleted at any time"
            ),
        );
    }
    if !leftovers.is_empty() {
        let list: Vec<String> = leftovers.iter().map(|p| shell_path(p)).collect();
        return Check::warn(
            ID,
            format!(
                "{summary}; {} rotated file{} beyond keep are left from an earlier setting and never removed",
                list.len(),
                if list.len() == 1 { " is" } else { "s" }
            ),
            format!("delete {}", list.join(" ")),
        );
    }
    Check::ok(ID, summary)
}

pub fn write(log_file: &Path, state: Option<&ServiceState>, running: bool) -> Check {
    const ID: &str = "log-write";
    let dir = log_file.parent().unwrap_or(Path::new("."));
    if let Err(why) = writable(dir) {
        return Check::fail(
            ID,
            format!(
                "the log folder {} cannot be written: {why}; the program's output is dropped",
                dir.display()
            ),
            "make it writable for the user the service runs as, or set [logs] dir in the spec \
             to a folder that is, then restart the service",
        );
    }
    if let Some(error) = state.and_then(|s| s.log_error.as_deref()) {
        let at = state.map(|s| s.updated_at.as_str()).unwrap_or_default();
        let fix = "free disk space or fix the folder's permissions; the supervisor retries at \
                   the next line of output";
        return if running {
            Check::fail(
                ID,
                format!("the supervisor cannot write the log ({error}, reported {at}); output is being dropped"),
                fix,
            )
        } else {
            Check::warn(
                ID,
                format!("the last run could not write the log ({error}, reported {at})"),
                fix,
            )
        };
    }
    Check::ok(
        ID,
        format!(
            "{} can be written; no log errors reported",
            log_file.display()
        ),
    )
}
