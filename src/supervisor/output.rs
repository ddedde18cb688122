//! The child's output: one pump per stream copies it into the rotating log (and, on a
//! terminal, to the screen with the service's name in front), and the engine waits
//! for the last of it after an exit, bounded for a descendant that holds the pipes.

use super::*;

impl Supervisor {
    /// The last child's output is in the log (its tree was ended and drained, by
    /// [`Supervisor::end_tree`] here or in the stop before): say so, for a `start`
    /// that shows it.
    pub(super) fn output_drained(&mut self) {
        self.state.output_drained = true;
        self.save();
    }

    /// Let the log pumps copy what the child wrote last: its pipes close once its tree
    /// is gone, so this is quick, and bounded for a descendant that escaped the tree.
    pub(super) async fn drain_output(&mut self) {
        let pumps = std::mem::take(&mut self.pumps);
        let _ = tokio::time::timeout(DRAIN_LIMIT, async {
            for pump in pumps {
                let _ = pump.await;
            }
        })
        .await;
    }
}

/// The child's output on our stdout, a prefix before every line.
pub(super) struct Echo {
    prefix: Arc<str>,
    at_line_start: bool,
}

impl Echo {
    fn show(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let mut text = Vec::with_capacity(bytes.len() + 16);
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            if self.at_line_start {
                text.extend_from_slice(self.prefix.as_bytes());
            }
            text.extend_from_slice(line);
            self.at_line_start = line.ends_with(b"\n");
        }
        // A closed terminal must not stop the logging.
        let _ = std::io::stdout().lock().write_all(&text);
    }
}

/// Copy one of the child's output streams into the log until it closes. Runs on its
/// own so a grandchild that keeps the pipe open never holds up the engine.
pub(super) fn spawn_log_pump(
    mut stream: os::Output,
    log: Arc<Mutex<RotatingLog>>,
    health: watch::Sender<Option<String>>,
    echo: Option<Arc<str>>,
    mut stamper: Option<stamp::Stamper>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 8192];
        let mut echo = echo.map(|prefix| Echo {
            prefix,
            at_line_start: true,
        });
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            if let Some(echo) = echo.as_mut() {
                echo.show(&buf[..n]);
            }
            let stamped = stamper
                .as_mut()
                .map(|s| s.stamp(&buf[..n], std::time::SystemTime::now()));
            let error = {
                let mut log = log.lock().expect("log lock");
                log.write(stamped.as_deref().unwrap_or(&buf[..n]));
                log.error().map(str::to_owned)
            };
            health.send_if_modified(|current| {
                let changed = *current != error;
                *current = error;
                changed
            });
        }
    })
}
