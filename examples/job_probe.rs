//! Test helper: writes what its supervisor gave it to the file named by its first
//! argument, as JSON: `{"pid": its pid, "console": bool, "in_job": bool, "job_limits":
//! <flags> | <why not>}` (the limit flags of the Job Object it runs in, as far as they can be read
//! from inside). With a second
//! argument `stay` it then stays up until killed; otherwise it exits 0.

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("usage: job_probe OUT-FILE [stay]");
    #[cfg(windows)]
    let answer = serde_json::json!({
        "pid": std::process::id(),
        "console": respawn::os::has_console_window(),
        "in_job": respawn::os::in_a_job(),
        "job_limits": match respawn::os::own_job_limits() {
            Ok(flags) => serde_json::json!(flags),
            Err(e) => serde_json::json!(e.to_string()),
        },
    });
    #[cfg(not(windows))]
    let answer = serde_json::json!({ "pid": std::process::id(), "console": false, "in_job": false, "job_limits": null });
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, answer.to_string()).expect("write the answer");
    std::fs::rename(&tmp, &out).expect("rename the answer");
    if args.next().as_deref() == Some("stay") {
        loop {
            std::thread::park();
        }
    }
}
