//! The state file's writer (issue 24): a replace that costs a write and a rename, so
//! that the save before an immediate restart's fork stays short.
//!
//! The temp file for the next write is made ahead of time, and the new contents
//! swap names with the old ones ([`crate::os::exchange_files`]); removing the old
//! contents and making the next temp file wait for [`StateWriter::tidy`], after the
//! fork. Where the swap can't be done it is a plain atomic rename, as before.

use std::io::Write;
use std::path::Path;

/// The temp files' names in the state folder: `.state.json.XXXXXX`.
const PREFIX: &str = ".state.json.";

#[derive(Default)]
pub struct StateWriter {
    /// An empty temp file beside the state file, for the next write.
    spare: Option<tempfile::NamedTempFile>,
    /// Earlier contents, under temp names after a swap; removed by `tidy` (or drop).
    old: Vec<tempfile::NamedTempFile>,
}

impl StateWriter {
    /// Replace `path` with `contents`: readers see the old or the new file, whole.
    pub fn write(&mut self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = match self.spare.take() {
            Some(spare) => spare,
            None => temp_in(dir)?,
        };
        tmp.write_all(contents)?;
        if crate::os::exchange_files(tmp.path(), path)? {
            self.old.push(tmp);
            return Ok(());
        }
        super::persist(tmp, path)
    }

    /// Off the restart path: remove earlier contents and make the next temp file.
    pub fn tidy(&mut self, path: &Path) {
        self.old.clear();
        if self.spare.is_none() {
            self.spare = temp_in(path.parent().unwrap_or(Path::new("."))).ok();
        }
    }
}

fn temp_in(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(PREFIX).tempfile_in(dir)
}

/// Remove temp files a killed supervisor left in its state folder (`dir`); only
/// while holding the service's lock.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_ours = name.to_str().is_some_and(|n| n.starts_with(PREFIX));
        if is_ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
