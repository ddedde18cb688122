//! Test helper: writes what its supervisor gave it to the file named by its first
//! argument, as JSON: `{"pid": its pid, "console": bool, "in_job": bool, "job_limits":
//! <flags> | <why not>, "argv_wide": [[UTF-16 units of each argument]]}` (the limit flags
//! of the Job Object it runs in, as far as they can be read from inside; its arguments as
//! Windows gave them, unpaired surrogates too). With a second
//! argument `stay` it then stays up until killed; otherwise it exits 0.

fn main() {
    let all: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut args = all.iter().skip(1);
    let out = std::path::PathBuf::from(args.next().expect("usage: job_probe OUT-FILE [stay]"));
    #[cfg(windows)]
    let argv_wide: Vec<Vec<u16>> = {
        use std::os::windows::ffi::OsStrExt;
        all.iter().map(|a| a.encode_wide().collect()).collect()
    };
    #[cfg(windows)]
    let answer = serde_json::json!({
        "argv_wide": argv_wide,
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
    let mut tmp = out.clone().into_os_string();
    tmp.push(".tmp");
    std::fs::write(&tmp, answer.to_string()).expect("write the answer");
    std::fs::rename(&tmp, &out).expect("rename the answer");
    if args.next().and_then(|a| a.to_str()) == Some("stay") {
        loop {
            std::thread::park();
        }
    }
}
