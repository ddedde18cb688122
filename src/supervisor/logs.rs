//! Size-rotated log files for the child's output.
//!
//! Hand-written rather than a crate because the failure rules are the point: a write
//! that fails (full disk, a folder made read-only) must never stop the child or the
//! supervisor. The output is dropped, the error is kept for `status`, and the next
//! write tries again.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs a file-system step with someone else's rights (the Windows service host acting
/// as the program's user); `None` when that is impossible now.
pub type Actor = std::sync::Arc<dyn Fn(&mut dyn FnMut()) -> Option<()> + Send + Sync>;

pub struct RotatingLog {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    file: Option<File>,
    size: u64,
    error: Option<String>,
    /// Who opens, creates and renames the files (writes go through the open handle,
    /// which Windows checked at open): `None` = this process.
    actor: Option<Actor>,
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
            actor: None,
        };
        let _ = log.ensure_open();
        log
    }

    /// From now on, open and rotate the files as `actor` says (the program's user, for
    /// a log folder of theirs: a LocalSystem host must not create or rename files
    /// where a user can plant links). The file open now is closed and opened again.
    pub fn act_as(&mut self, actor: Actor) {
        self.actor = Some(actor);
        self.file = None;
        let _ = self.ensure_open();
    }

    /// Run a file-system step as the actor, if there is one.
    fn acting<T>(&self, step: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let Some(actor) = &self.actor else {
            return step();
        };
        let mut step = Some(step);
        let mut out = None;
        actor(&mut || out = step.take().map(|f| f()))
            .and(out)
            .unwrap_or_else(|| Err(io::Error::other("no user to write the log as yet")))
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
            let file = self.ensure_open()?;
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

    /// The open log file, opening it first when needed. A failure is also kept for
    /// `status` (a log that cannot open is retried at the next write).
    fn ensure_open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let opened = self
                .acting(|| {
                    self.path.parent().map_or(Ok(()), std::fs::create_dir_all)?;
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
                Err(e) => {
                    self.error = Some(format!("cannot open {}: {e}", self.path.display()));
                    return Err(e);
                }
            }
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file is not open"))
    }

    /// output.log → output.log.1 → … → output.log.<keep>; the oldest falls off.
    /// The current file is parked first: if a reader holds it open without delete
    /// sharing (Windows), that rename fails before any old file was touched, so a
    /// retry loses nothing. A rotation cut short after the park is finished first.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let steps = rotation_steps(self.keep);
        self.acting(|| {
            if self.slot(Slot::Parked).exists() {
                self.run_steps(&steps[1..])?;
            }
            self.run_steps(&steps)
        })?;
        self.size = 0;
        Ok(())
    }

    fn run_steps(&self, steps: &[Step]) -> io::Result<()> {
        for step in steps {
            match *step {
                Step::Remove(slot) => match std::fs::remove_file(self.slot(slot)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                },
                Step::Rename(from, to) => {
                    // Old files may be missing (fewer rotations so far); the current
                    // file must move, or the rotation stops here.
                    if from == Slot::Current || self.slot(from).exists() {
                        std::fs::rename(self.slot(from), self.slot(to))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn slot(&self, slot: Slot) -> PathBuf {
        match slot {
            Slot::Current => self.path.clone(),
            Slot::Parked => rotated_path(&self.path, 0),
            Slot::Old(n) => rotated_path(&self.path, n),
        }
    }
}

/// A log file's place in the rotation: the current file, its parking name during a
/// rotation (`output.log.0`), or the n-th older file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Current,
    Parked,
    Old(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Remove(Slot),
    Rename(Slot, Slot),
}

/// The order of a rotation: park the current file first, and only then drop the
/// oldest and shift the rest.
fn rotation_steps(keep: u32) -> Vec<Step> {
    if keep == 0 {
        return vec![Step::Remove(Slot::Current)];
    }
    let mut steps = vec![
        Step::Rename(Slot::Current, Slot::Parked),
        Step::Remove(Slot::Old(keep)),
    ];
    steps.extend(
        (1..keep)
            .rev()
            .map(|n| Step::Rename(Slot::Old(n), Slot::Old(n + 1))),
    );
    steps.push(Step::Rename(Slot::Parked, Slot::Old(1)));
    steps
}

pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The last `n` lines of the log, reading older rotated files when the current one is
/// short. A line the rotation cut in two (its start at the end of `output.log.1`, its
/// end at the start of `output.log`) is one line again.
pub fn tail_lines(path: &Path, n: usize, keep: u32) -> io::Result<Vec<String>> {
    // Newest first; enough files for `n` whole lines (one more newline than lines).
    let mut texts: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0usize;
    let files =
        std::iter::once(path.to_path_buf()).chain((1..=keep).map(|k| rotated_path(path, k)));
    for file in files {
        // Read at least the current file, so `-n 0` still tells "no log" from "empty".
        if !texts.is_empty() && newlines > n {
            break;
        }
        match std::fs::read(&file) {
            Ok(bytes) => {
                newlines += bytes.iter().filter(|b| **b == b'\n').count();
                texts.push(bytes);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    if texts.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no log at {} yet", path.display()),
        ));
    }
    Ok(last_lines_of(texts.into_iter().rev(), n))
}

/// The last `n` lines of files read oldest first, joined as one stream. Pure.
pub fn last_lines_of(files_oldest_first: impl Iterator<Item = Vec<u8>>, n: usize) -> Vec<String> {
    let all: Vec<u8> = files_oldest_first.flatten().collect();
    let text = String::from_utf8_lossy(&all);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let skip = lines.len().saturating_sub(n);
    lines.split_off(skip)
}

/// How many of the child's last lines a reported failure shows (`systemctl status`
/// shows 10).
pub const LAST_LINES: usize = 10;

/// How a supervisor event line starts in the log (`[respawn RFC3339] …`).
pub const EVENT_PREFIX: &str = "[respawn ";

/// The child's own last `n` lines (respawn's event lines left out), where a failure
/// is reported: `boom: missing API key` belongs on the screen, as `systemctl status`
/// shows the journal's last lines. Empty when there is no log.
pub fn last_child_lines(path: &Path, n: usize) -> Vec<String> {
    // Enough of the log for `n` of the child's lines between a crash loop's events.
    let lines = tail_lines(path, n * 8 + 32, crate::spec::MAX_LOG_KEEP).unwrap_or_default();
    let mut own: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.starts_with(EVENT_PREFIX) && !l.trim().is_empty())
        .collect();
    let skip = own.len().saturating_sub(n);
    own.split_off(skip)
}

/// Copy what is appended to the log to `out`, following rotation, until `out` fails.
/// This is a client-side `tail -f`; it polls the file a few times a second.
pub fn follow(path: &Path, out: &mut dyn Write) -> io::Result<()> {
    follow_until(path, out, Duration::from_millis(250), || false)
}

/// The newest rotated file we look for when walking the chain (a spec keeps at most
/// `MAX_LOG_KEEP` files).
const CHAIN_LIMIT: u32 = crate::spec::MAX_LOG_KEEP + 1;

/// `follow`, ending once `done()` was true before a pass that found nothing new.
///
/// Lossless across rotation: we hold the file open, so after a rename we still read it
/// to its end (the writer never writes to a file after renaming it), then go on with
/// the file that came after it: found by identity in the rotated chain
/// (output.log.k → output.log.k-1 → … → output.log), however many rotations happened
/// between two polls. Only a file that fell off the end (`keep`) before we got to it
/// is lost.
pub fn follow_until(
    path: &Path,
    out: &mut dyn Write,
    poll: Duration,
    mut done: impl FnMut() -> bool,
) -> io::Result<()> {
    let mut cur = File::open(path).ok();
    if let Some(f) = cur.as_mut() {
        f.seek(SeekFrom::End(0))?;
    }
    loop {
        let finished = done();
        if let Some(f) = cur.as_mut() {
            copy_to_end(f, out)?;
        }
        match successor(path, cur.as_ref()) {
            Some(next) => {
                // Whatever reached the old file before it was renamed.
                if let Some(f) = cur.as_mut() {
                    copy_to_end(f, out)?;
                }
                cur = Some(next);
            }
            None if finished => return Ok(()),
            None => std::thread::sleep(poll),
        }
    }
}

fn copy_to_end(f: &mut File, out: &mut dyn Write) -> io::Result<()> {
    io::copy(f, out)?;
    out.flush()
}

fn identity_of_path(path: &Path) -> Option<(u64, u64)> {
    File::open(path)
        .ok()
        .as_ref()
        .and_then(crate::os::file_identity)
}

/// The rotated files that exist, (k, identity), oldest last. A rotation renames them
/// one at a time, so one name can be missing for a moment: the scan goes on past a
/// single gap and stops at two.
fn rotated_chain(path: &Path) -> Vec<(u32, (u64, u64))> {
    let mut chain = Vec::new();
    let mut missing = 0;
    for k in 1..=CHAIN_LIMIT {
        match identity_of_path(&rotated_path(path, k)) {
            Some(id) => {
                missing = 0;
                chain.push((k, id));
            }
            None if missing == 1 => break,
            None => missing += 1,
        }
    }
    chain
}

/// Whether a name inside the chain is missing (a rotation is under way).
fn has_gap(chain: &[(u32, (u64, u64))]) -> bool {
    chain
        .iter()
        .enumerate()
        .any(|(i, (k, _))| *k != i as u32 + 1)
}

/// The file to read after `cur`, opened, or `None` while `cur` is still the live log.
fn successor(path: &Path, cur: Option<&File>) -> Option<File> {
    let Some(cur) = cur else {
        return File::open(path).ok(); // no log yet: the first one, from its start
    };
    let cur_id = crate::os::file_identity(cur)?;
    // Some tries: a rotation between our look-ups shifts every name by one.
    for _ in 0..100 {
        match identity_of_path(path) {
            Some(id) if id == cur_id => return None,
            None => return None, // between the rename and the new file: look again later
            Some(_) => {}
        }
        let chain = rotated_chain(path);
        let found = chain.iter().find(|(_, id)| *id == cur_id).map(|(k, _)| *k);
        let (next_name, check) = match found {
            Some(1) => (path.to_path_buf(), Some(rotated_path(path, 1))),
            Some(k) => (rotated_path(path, k - 1), Some(rotated_path(path, k))),
            // A rotation is renaming the chain right now (a name is missing): look again.
            None if has_gap(&chain) => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            // Ours was removed (keep = 0, or it fell off the end): the oldest file
            // that is left comes next.
            None => (
                chain
                    .last()
                    .map_or_else(|| path.to_path_buf(), |(k, _)| rotated_path(path, *k)),
                None,
            ),
        };
        let Ok(next) = File::open(&next_name) else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        // Still where we found it: no rotation in between, so `next` follows `cur`.
        if check.is_none_or(|at| identity_of_path(&at) == Some(cur_id)) {
            return Some(next);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_parks_the_current_file_before_touching_old_ones() {
        use Slot::*;
        assert_eq!(
            rotation_steps(3),
            [
                Step::Rename(Current, Parked),
                Step::Remove(Old(3)),
                Step::Rename(Old(2), Old(3)),
                Step::Rename(Old(1), Old(2)),
                Step::Rename(Parked, Old(1)),
            ]
        );
        assert_eq!(rotation_steps(1)[0], Step::Rename(Current, Parked));
        assert_eq!(rotation_steps(0), [Step::Remove(Current)]);
    }

    fn old_files(path: &Path, keep: u32) -> Vec<Option<String>> {
        (1..=keep)
            .map(|n| std::fs::read_to_string(rotated_path(path, n)).ok())
            .collect()
    }

    /// The current file cannot move (here: someone removed it): no old file is lost,
    /// however often the rotation is retried.
    #[cfg(unix)]
    #[test]
    fn a_current_file_that_cannot_move_loses_no_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(rotated_path(&path, 1), "one\n").unwrap();
        std::fs::write(rotated_path(&path, 2), "two\n").unwrap();
        let mut log = RotatingLog::open(path.clone(), 10, 2);
        log.write(b"current\n");
        std::fs::remove_file(&path).unwrap();
        log.write(b"next....\n");
        assert!(log.error().is_some());
        assert_eq!(
            old_files(&path, 2),
            [Some("one\n".into()), Some("two\n".into())]
        );
    }

    /// Windows: a reader holds output.log without delete sharing, so it cannot be
    /// renamed. Old files stay put through every retry; the rotation happens once the
    /// reader lets go.
    #[cfg(windows)]
    #[test]
    fn a_reader_without_delete_sharing_loses_no_old_file() {
        use std::os::windows::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(rotated_path(&path, 1), "one\n").unwrap();
        std::fs::write(rotated_path(&path, 2), "two\n").unwrap();
        let mut log = RotatingLog::open(path.clone(), 10, 2);
        log.write(b"current\n");
        // FILE_SHARE_READ | FILE_SHARE_WRITE, no FILE_SHARE_DELETE.
        let reader = OpenOptions::new()
            .read(true)
            .share_mode(1 | 2)
            .open(&path)
            .unwrap();
        for _ in 0..3 {
            log.write(b"retry...\n");
            assert!(log.error().is_some(), "the rename must fail while held");
        }
        assert_eq!(
            old_files(&path, 2),
            [Some("one\n".into()), Some("two\n".into())]
        );
        drop(reader);
        log.write(b"after...\n");
        assert!(log.error().is_none(), "{:?}", log.error());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after...\n");
        assert_eq!(
            old_files(&path, 2),
            [Some("current\n".into()), Some("one\n".into())]
        );
    }

    /// The Windows service host opens and rotates a user's log as that user; before it
    /// can act as them, nothing is written (never as itself).
    #[test]
    fn an_actor_opens_and_rotates_the_files_and_without_one_nothing_is_written() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user").join("out.log");
        let calls = Arc::new(AtomicUsize::new(0));
        let able = Arc::new(AtomicBool::new(false));
        let (c, a) = (calls.clone(), able.clone());
        let mut log = RotatingLog::open(dir.path().join("first.log"), 10, 2);
        log.path = path.clone();
        log.act_as(Arc::new(move |step: &mut dyn FnMut()| {
            c.fetch_add(1, Ordering::SeqCst);
            a.load(Ordering::SeqCst).then(step)
        }));
        log.write(b"lost\n");
        assert!(log
            .error()
            .unwrap()
            .contains("no user to write the log as yet"));
        assert!(!path.exists(), "nothing was created without the actor");
        able.store(true, Ordering::SeqCst);
        let before = calls.load(Ordering::SeqCst);
        log.write(b"line0...\n");
        assert!(log.error().is_none(), "{:?}", log.error());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "line0...\n");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before + 1,
            "the open went through it"
        );
        log.write(b"line1...\n");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before + 3,
            "rotate, then open again"
        );
        assert_eq!(
            std::fs::read_to_string(rotated_path(&path, 1)).unwrap(),
            "line0...\n"
        );
    }

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
    fn a_line_the_rotation_cut_is_one_line_in_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut log = RotatingLog::open(path.clone(), 10, 5);
        log.write(b"0123456789abcdefghijXYZ\nnext\n");
        assert_eq!(
            tail_lines(&path, 2, 5).unwrap(),
            vec!["0123456789abcdefghijXYZ", "next"]
        );
        assert_eq!(tail_lines(&path, 1, 5).unwrap(), vec!["next"]);
        assert_eq!(
            last_lines_of([b"a\nb".to_vec(), b"c\nd\n".to_vec()].into_iter(), 5),
            vec!["a", "bc", "d"]
        );
    }

    #[test]
    fn the_childs_last_lines_leave_respawns_events_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(
            &path,
            "one\n[respawn 2026-01-01T00:00:00Z] started `x` as pid 3\nboom: missing API key\n\n[respawn 2026-01-01T00:00:01Z] child ended\n",
        )
        .unwrap();
        assert_eq!(
            last_child_lines(&path, 10),
            vec!["one", "boom: missing API key"]
        );
        assert_eq!(last_child_lines(&path, 1), vec!["boom: missing API key"]);
        assert!(last_child_lines(&dir.path().join("none.log"), 10).is_empty());
    }

    /// Many rotations, some between two polls: every line once, in order.
    fn follow_sees_every_line(poll: Duration, keep: u32) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut log = RotatingLog::open(path.clone(), 1024, keep);
        log.write(b"before the follower started\n");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let follower = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                follow_until(&path, &mut out, poll, || {
                    done.load(std::sync::atomic::Ordering::SeqCst)
                })
                .unwrap();
                out
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let n = 20_000;
        for i in 0..n {
            log.write(format!("line {i}\n").as_bytes());
            if i % 2000 == 0 {
                std::thread::sleep(Duration::from_millis(3));
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let out = String::from_utf8(follower.join().unwrap()).unwrap();
        let want: String = (0..n).map(|i| format!("line {i}\n")).collect();
        if out != want {
            let got: Vec<&str> = out.lines().collect();
            let first_bad = (0..n).find(|i| got.get(*i) != Some(&format!("line {i}").as_str()));
            panic!(
                "{} lines followed, {n} written; first difference at line {first_bad:?}",
                got.len()
            );
        }
    }

    #[test]
    fn follow_is_lossless_across_rotation() {
        follow_sees_every_line(Duration::from_millis(1), 1000);
    }

    #[test]
    fn follow_walks_the_chain_when_many_rotations_pass_between_polls() {
        follow_sees_every_line(Duration::from_millis(100), 1000);
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
