//! Size-rotated log files for the child's output.
//!
//! Hand-written rather than a crate because the failure rules are the point: a write
//! that fails (full disk, a folder made read-only) must never stop the child or the
//! supervisor. The output is dropped, the error is kept for `status`, and the next
//! write tries again.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct RotatingLog {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    file: Option<File>,
    size: u64,
    error: Option<String>,
}

impl RotatingLog {
    /// Never fails: a log that can't be opened now is reported and retried on write.
    pub fn open(path: PathBuf, max_size: u64, keep: u32) -> Self {
        let mut log = RotatingLog {
            path,
            max_size,
            keep,
            file: None,
            size: 0,
            error: None,
        };
        log.ensure_open();
        log
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last write error, if the log is not healthy now.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Append `bytes`, rotating first when they would push the file past the size limit.
    pub fn write(&mut self, bytes: &[u8]) {
        let result = self.try_write(bytes);
        self.record(result);
    }

    /// Writes in pieces that fit, so no file ever grows past `max_size`, however
    /// large one read from the child's pipe was.
    fn try_write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.size >= self.max_size {
                self.rotate()?;
            }
            let room = (self.max_size - self.size).min(bytes.len() as u64) as usize;
            // Keep a small write whole in the next file rather than split it.
            if room < bytes.len() && self.size > 0 && bytes.len() as u64 <= self.max_size {
                self.rotate()?;
                continue;
            }
            let file = self
                .ensure_open()
                .ok_or_else(|| io::Error::other("log file is not open"))?;
            file.write_all(&bytes[..room])?;
            self.size += room as u64;
            bytes = &bytes[room..];
        }
        Ok(())
    }

    fn record(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => self.error = None,
            Err(e) => {
                self.error = Some(format!("cannot write {}: {e}", self.path.display()));
                // Reopen on the next write: the file may have been removed or the disk freed.
                self.file = None;
            }
        }
    }

    fn ensure_open(&mut self) -> Option<&mut File> {
        if self.file.is_none() {
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)
                })
                .and_then(|f| Ok((f.metadata()?.len(), f)));
            match opened {
                Ok((len, f)) => {
                    self.size = len;
                    self.file = Some(f);
                }
                Err(e) => self.error = Some(format!("cannot open {}: {e}", self.path.display())),
            }
        }
        self.file.as_mut()
    }

    /// output.log → output.log.1 → … → output.log.<keep>; the oldest falls off.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(rotated_path(&self.path, self.keep));
            for n in (1..self.keep).rev() {
                let from = rotated_path(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, rotated_path(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
        }
        self.size = 0;
        Ok(())
    }
}

pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The last `n` lines of the log, reading older rotated files when the current one is short.
pub fn tail_lines(path: &Path, n: usize, keep: u32) -> io::Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    let files =
        std::iter::once(path.to_path_buf()).chain((1..=keep).map(|k| rotated_path(path, k)));
    let mut found_any = false;
    for file in files {
        // Read at least the current file, so `-n 0` still tells "no log" from "empty".
        if found_any && lines.len() >= n {
            break;
        }
        let text = match std::fs::read(&file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        found_any = true;
        let mut older: Vec<String> = text.lines().map(str::to_owned).collect();
        older.append(&mut lines);
        lines = older;
    }
    if !found_any {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no log at {} yet", path.display()),
        ));
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines.split_off(skip))
}

/// Copy what is appended to the log to `out`, following rotation, until `out` fails.
/// This is a client-side `tail -f`; it polls the file a few times a second.
pub fn follow(path: &Path, out: &mut dyn Write) -> io::Result<()> {
    let mut pos = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    loop {
        match File::open(path) {
            Ok(mut f) => {
                let len = f.metadata()?.len();
                if len < pos {
                    pos = 0; // rotated: the new file starts over
                }
                f.seek(SeekFrom::Start(pos))?;
                let mut reader = BufReader::new(f.take(len - pos));
                loop {
                    let buf = reader.fill_buf()?;
                    if buf.is_empty() {
                        break;
                    }
                    out.write_all(buf)?;
                    let used = buf.len();
                    pos += used as u64;
                    reader.consume(used);
                }
                out.flush()?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_size_limit_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut log = RotatingLog::open(path.clone(), 10, 2);
        for i in 0..5 {
            log.write(format!("line{i}...\n").as_bytes()); // 9 bytes each: one per file
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "line4...\n");
        assert_eq!(
            std::fs::read_to_string(rotated_path(&path, 1)).unwrap(),
            "line3...\n"
        );
        assert_eq!(
            std::fs::read_to_string(rotated_path(&path, 2)).unwrap(),
            "line2...\n"
        );
        assert!(!rotated_path(&path, 3).exists());
        assert_eq!(
            tail_lines(&path, 2, 2).unwrap(),
            vec!["line3...", "line4..."]
        );
        assert_eq!(tail_lines(&path, 10, 2).unwrap().len(), 3);
        assert!(log.error().is_none());
    }

    #[test]
    fn a_write_larger_than_the_limit_is_spread_over_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut log = RotatingLog::open(path.clone(), 10, 5);
        log.write(b"0123456789abcdefghijXYZ");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "XYZ");
        assert_eq!(
            std::fs::read_to_string(rotated_path(&path, 1)).unwrap(),
            "abcdefghij"
        );
        assert_eq!(
            std::fs::read_to_string(rotated_path(&path, 2)).unwrap(),
            "0123456789"
        );
    }

    #[test]
    fn an_unwritable_log_is_reported_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        // A path whose parent is a file can never be created.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "x").unwrap();
        let mut log = RotatingLog::open(blocker.join("out.log"), 1 << 20, 1);
        log.write(b"lost\n");
        assert!(
            log.error().unwrap().contains("out.log"),
            "{:?}",
            log.error()
        );
        std::fs::remove_file(&blocker).unwrap();
        log.write(b"kept\n");
        assert_eq!(log.error(), None);
        assert_eq!(
            std::fs::read_to_string(blocker.join("out.log")).unwrap(),
            "kept\n"
        );
    }
}
