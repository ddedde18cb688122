//! The program's real main pid, when it is not the direct child.
//!
//! On Windows `hermes.exe` is pip's launcher: it starts `python.exe`, which in a venv
//! starts the base interpreter. The pid respawn spawned is never the pid Hermes checks
//! in its stop marker. The program says which pid is the real one in a pid file
//! (`spec.pid_file`); respawn trusts it only for a process inside the child's own tree
//! (its Job Object on Windows, its process group on Unix), and remembers that
//! process's start token so a recycled pid is never taken for it.

use crate::os::{self, ChildTree};
use crate::supervisor::logs::Actor;
use std::path::Path;

/// The main pid, checked to be in the child's tree when it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MainPid {
    pub pid: u32,
    /// The process's start token, read right after the membership check.
    pub token: Option<u64>,
}

/// What a look at the pid file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A pid in the child's tree.
    Found(MainPid),
    /// No file (yet): the program has not written it.
    Missing,
    /// A file respawn will not use, and why (logged once per distinct reason).
    Refused(String),
}

/// A pid file's pid: a plain number, or JSON with a numeric `pid` field (what Hermes
/// writes to `$HERMES_HOME/gateway.pid`).
pub fn parse(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let pid = match text.parse::<u32>() {
        Ok(pid) => pid,
        Err(_) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("pid")?.as_u64())
            .and_then(|p| u32::try_from(p).ok())
            .ok_or("it holds neither a pid nor JSON with a numeric `pid` field")?,
    };
    if pid == 0 {
        return Err("it names pid 0".into());
    }
    Ok(pid)
}

/// The most of a pid file that is read: a pid or a small JSON object fits many times.
pub const MAX_PID_FILE: u64 = 4096;

/// A pid file's text: only a regular file (a FIFO or a pipe there would hang the
/// engine, stop included: issue 25), opened without blocking where the OS allows, and
/// at most [`MAX_PID_FILE`] bytes of it.
fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits());
    }
    let file = opts.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PID_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PID_FILE {
        return Err(std::io::Error::other(format!(
            "it is larger than {MAX_PID_FILE} bytes"
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Check what a read of `path` gave against the child's tree. An error never quotes
/// the file's text (issue 25: what a link there points at is not echoed into the log).
pub fn judge(path: &Path, read: std::io::Result<String>, child: &ChildTree) -> Lookup {
    let text = match read {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
        Err(e) => return Lookup::Refused(format!("cannot read pid_file {}: {e}", path.display())),
    };
    let pid = match parse(&text) {
        Ok(pid) => pid,
        // A file caught half-written looks like this too; the next look decides.
        Err(why) => return Lookup::Refused(format!("pid_file {}: {why}", path.display())),
    };
    if pid != child.pid() && !child.contains(pid) {
        return Lookup::Refused(format!(
            "pid_file {} names pid {pid}, which is not in the child's {}; ignored (a stale file, or another instance's)",
            path.display(),
            if cfg!(windows) { "Job Object" } else { "process group" }
        ));
    }
    Lookup::Found(MainPid {
        pid,
        token: os::start_token(pid),
    })
}

/// How long a stop waits for a look at the pid file before it asks the pid it knows
/// (or the child's): a read that never returns (a slow share, a pipe) must not hang
/// the stop.
pub const STOP_READ_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A read that finished: which one, and what it gave.
struct Done {
    id: u64,
    read: std::io::Result<String>,
}

/// Reads the pid file off the engine's thread, one read at a time, and hands the text
/// back as an event for the engine's `select!` (issue 25): the file is the program's,
/// so it may be a pipe, a slow network share, or a link, and a read that never returns
/// must hang only its own thread, never the engine (stop included). A read under way
/// is never doubled: the next look waits for it. The Windows service host reads it
/// with the user's rights ([`Reader::act_as`]), never SYSTEM's.
pub struct Reader {
    tx: tokio::sync::mpsc::UnboundedSender<Done>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Done>,
    /// The read under way, if any.
    busy: Option<u64>,
    next: u64,
    /// Reads numbered below this were for an earlier child: their text is dropped.
    current_from: u64,
    actor: Option<Actor>,
}

impl Default for Reader {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Reader {
            tx,
            rx,
            busy: None,
            next: 0,
            current_from: 0,
            actor: None,
        }
    }
}

impl Reader {
    /// From now on, read the file as `actor` says (the program's user).
    pub fn act_as(&mut self, actor: Actor) {
        self.actor = Some(actor);
    }

    /// Whether a read is under way (its result is what [`Reader::done`] gives).
    pub fn busy(&self) -> bool {
        self.busy.is_some()
    }

    /// A new child: the text of a read under way is for the one before, and dropped.
    pub fn new_child(&mut self) {
        self.current_from = self.next;
    }

    /// Start reading `path`, unless a read is under way (then its result will do).
    pub fn look(&mut self, path: &Path) {
        if self.busy.is_some() {
            return;
        }
        let id = self.next;
        self.next += 1;
        self.busy = Some(id);
        let (tx, actor, path) = (self.tx.clone(), self.actor.clone(), path.to_path_buf());
        let work = move || {
            let read = match &actor {
                None => read_capped(&path),
                Some(actor) => {
                    let mut out = None;
                    actor(&mut || out = Some(read_capped(&path)))
                        .and(out)
                        .unwrap_or_else(|| {
                            Err(std::io::Error::other("there is no user to read it as yet"))
                        })
                }
            };
            let _ = tx.send(Done { id, read });
        };
        // A thread of its own, not tokio's blocking pool: the runtime waits for its
        // blocking tasks when it shuts down, and this one may never return.
        if let Err(e) = std::thread::Builder::new()
            .name("pid-file".into())
            .spawn(work)
        {
            let _ = self.tx.send(Done { id, read: Err(e) });
        }
    }

    /// The result of the read under way: `Some` for the current child, `None` for a
    /// read that was for an earlier one. Pending while no read is under way.
    pub async fn done(&mut self) -> Option<std::io::Result<String>> {
        if self.busy.is_none() {
            return std::future::pending().await;
        }
        let done = self.rx.recv().await?;
        self.busy = None;
        (done.id >= self.current_from).then_some(done.read)
    }
}

/// Delays between looks at a pid file that readiness waits for: quick at first, then
/// twice a second until `ready_timeout` (which fails the child without it), then as
/// [`watch_delays`].
pub fn ready_watch_delays(
    ready_timeout: std::time::Duration,
) -> impl Iterator<Item = std::time::Duration> {
    let ms = std::time::Duration::from_millis;
    let steady = (ready_timeout.as_millis() / 500) as usize + 1;
    [50u64, 100, 200, 400]
        .into_iter()
        .map(ms)
        .chain(std::iter::repeat_n(ms(500), steady))
        .chain(watch_delays())
}

/// Delays between looks at a pid file the program has not written yet: quick at
/// first (programs write it while starting), then slower, for a bounded time.
pub fn watch_delays() -> impl Iterator<Item = std::time::Duration> {
    let ms = [50u64, 100, 200, 400, 800, 1600, 3200];
    ms.into_iter()
        .chain(std::iter::repeat_n(5000, 60))
        .map(std::time::Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO (or anything but a regular file) is refused without blocking, and a
    /// file larger than the cap is refused (issue 25). Without the check, reading the
    /// FIFO would block this test forever.
    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_huge_pid_file_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("gw.pid");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_capped(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let big = dir.path().join("big.pid");
        std::fs::write(&big, "1".repeat(MAX_PID_FILE as usize + 1)).unwrap();
        let e = read_capped(&big).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        let ok = dir.path().join("ok.pid");
        std::fs::write(&ok, "42\n").unwrap();
        assert_eq!(read_capped(&ok).unwrap(), "42\n");
    }

    #[test]
    fn pid_files_in_both_shapes() {
        assert_eq!(parse("1234\n"), Ok(1234));
        assert_eq!(parse(" 77 "), Ok(77));
        assert_eq!(
            parse(r#"{"pid": 4321, "kind": "hermes-gateway", "argv": ["x"]}"#),
            Ok(4321)
        );
        for bad in [
            "",
            "abc",
            "0",
            "-5",
            r#"{"pid": "12"}"#,
            r#"{"nopid": 3}"#,
            "{",
            "99999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    /// What a pid file holds is never quoted back (issue 25: a link there could point
    /// at a secret, and a refusal goes to the log and the Event Log).
    #[test]
    fn a_refusal_never_quotes_the_file() {
        for secret in ["API_KEY=sk-live-123", r#"{"pid": "sk-live-123"}"#] {
            let why = parse(secret).unwrap_err();
            assert!(!why.contains("sk-live"), "{why}");
        }
    }

    /// Reads run on their own thread and come back through `done`; a read that was
    /// under way when a new child started is dropped (`None`), and the next one counts.
    #[test]
    fn the_reader_hands_back_reads_and_drops_those_for_an_earlier_child() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gw.pid");
        std::fs::write(&file, "4242\n").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut reader = Reader::default();
            assert!(!reader.busy());
            reader.look(&file);
            assert!(reader.busy());
            reader.look(&file); // not doubled: the read under way will do
            reader.new_child();
            assert!(reader.done().await.is_none(), "for the child before");
            assert!(!reader.busy());
            reader.look(&file);
            assert_eq!(reader.done().await.unwrap().unwrap(), "4242\n");
            reader.look(&dir.path().join("missing.pid"));
            let e = reader.done().await.unwrap().unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        });
    }

    #[test]
    fn the_watch_is_bounded() {
        let total: std::time::Duration = watch_delays().sum();
        assert!(total > std::time::Duration::from_secs(60));
        assert!(total < std::time::Duration::from_secs(600));
    }
}
