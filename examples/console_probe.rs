//! Test helper: writes whether this process has a console window to the file named by
//! its first argument ("console" or "no-console"), then stays up until killed. Used by
//! the Windows tests to prove that children of respawn never get a console window.

fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: console_probe OUT-FILE");
    #[cfg(windows)]
    let answer = if respawn::os::has_console_window() {
        "console"
    } else {
        "no-console"
    };
    #[cfg(not(windows))]
    let answer = "no-console";
    std::fs::write(&out, answer).expect("write the answer");
    loop {
        std::thread::park();
    }
}
