//! Test helper with a graceful stop that takes as long as the test wants: runs until
//! the file STOP exists (a `[stop] method = "file"` request), then waits until the file
//! GO exists, writes "graceful" to ENDED and exits 0. Used to send a second request
//! while a graceful stop is under way (tests/windows_scm.rs).
//!
//! Usage: slow_stop STOP GO ENDED

use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [stop, go, ended] = &args[..] else {
        eprintln!("usage: slow_stop STOP GO ENDED");
        std::process::exit(2);
    };
    println!("slow_stop {}: running", std::process::id());
    while !stop.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(stop);
    println!("slow_stop: stopping, waiting for the go-ahead");
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(ended, "graceful").unwrap();
    println!("slow_stop: stopped");
}
