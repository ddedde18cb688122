//! Issue 23 on Windows (under Wine): the child's CPU and memory (its tree found in a
//! process snapshot, each one's times and working set), the one JSON schema of
//! `status` and `list`, "did you mean" for swapped letters.
#![cfg(windows)]

use crate::common::*;

#[test]
fn status_and_list_show_the_childs_memory_in_one_schema() {
    let h = Harness::new();
    let name = "usage-w";
    let probe = h.path("probe.txt");
    let spec = h.spec("u.toml", &console_probe_spec(name, &probe));
    let mut sup = h.run(&spec);
    let child = h.wait_running(name);
    let status = h.json(&["status", name, "--json"]);
    assert_eq!(status["schema_version"], 1, "{status:#}");
    assert_eq!(status["pid"], child);
    assert!(status["memory_bytes"].as_u64().unwrap() > 0, "{status:#}");
    assert!(status["processes"].as_u64().unwrap() >= 1, "{status:#}");
    assert!(status["cpu_seconds"].as_f64().is_some(), "{status:#}");
    let list = h.json(&["list", "--json"]);
    let row = &list.as_array().unwrap()[0];
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&status), keys(row));
    // Another case finds the service itself here (the file system ignores case);
    // two letters swapped get the suggestion.
    let out = h.cmd(&["status", "usgae-w"]);
    assert!(
        text(&out).contains("did you mean usage-w?"),
        "{}",
        text(&out)
    );
    stop_supervisor(&mut sup);
}

#[test]
fn the_cpu_time_of_a_busy_child_grows() {
    let h = Harness::new();
    let name = "busy-w";
    let spec = h.spec(
        "b.toml",
        &format!(
            "name = \"{name}\"\ncommand = \"cmd.exe\"\nargs = [\"/c\", \"for /L %i in (1,1,2000000000) do @rem\"]\n"
        ),
    );
    let mut sup = h.run(&spec);
    h.wait_running(name);
    let mut last = serde_json::Value::Null;
    let grew = wait_for("CPU time counted", || {
        last = h.json(&["status", name, "--json"]);
        last["cpu_seconds"].as_f64().is_some_and(|s| s >= 0.2)
    });
    stop_supervisor(&mut sup);
    assert!(grew, "{last:#}");
}
