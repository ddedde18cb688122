//! What a long wait shows on a terminal: what respawn waits for and how long it may
//! still take. Nothing at all when stderr is not a terminal (scripts, CI, pipes).

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use std::time::Duration;

/// A spinner on stderr for as long as this lives.
pub struct Waiting(ProgressBar);

/// Show "`what` (Ns left)" until dropped; `limit` is the longest the wait can take.
pub fn waiting(what: String, limit: Duration) -> Waiting {
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {msg} ({left} left)")
        .expect("a valid template")
        .with_key(
            "left",
            move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let left = limit.saturating_sub(state.elapsed()).as_secs();
                let _ = write!(w, "{left}s");
            },
        );
    bar.set_style(style);
    bar.set_message(what);
    bar.enable_steady_tick(Duration::from_millis(200));
    Waiting(bar)
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
