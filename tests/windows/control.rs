//! The supervisor's control pipe under Wine: another process stops and restarts a
//! running `respawn run` through `\\.\pipe\respawn-<pid>`, the pipe's DACL reads back
//! as the one respawn set, and a pipe squatting the name is refused.
//!
//! Not shown by Wine (one user, always admin, one session): that another user is
//! refused, and that a second session reaches the pipe. See docs/wine.md.
#![cfg(windows)]

use crate::common::*;

fn probe_spec(h: &Harness, name: &str) -> std::path::PathBuf {
    let probe = example_exe("job_probe");
    h.spec(
        "s.toml",
        &format!(
            "name = \"{name}\"\ncommand = {:?}\nargs = [{:?}, \"stay\"]\n[stop]\ntimeout = \"2s\"\n",
            probe.display().to_string(),
            h.path("probe.json").display().to_string()
        ),
    )
}

#[test]
fn another_process_restarts_and_stops_the_supervisor_through_its_pipe() {
    let h = Harness::new();
    let mut sup = h.run(&probe_spec(&h, "ctl"));
    let first = h.wait_running("ctl");
    let pid = sup.id();
    // The pipe's name has a random suffix, recorded in the holder file (issue 25).
    let record = std::fs::read_to_string(h.service_dir("ctl").join("supervisor.pid")).unwrap();
    let suffix = respawn::supervisor::lock::Holder::pipe_suffix(&record);
    assert_eq!(suffix.as_deref().map(str::len), Some(16), "{record}");
    let suffix = suffix.as_deref();
    // The guessable name is not served; the harness finds the record as a client does.
    assert!(respawn::os::control_request(pid, None, "ping").is_err());
    assert_eq!(pipe_suffix_of(pid).as_deref(), suffix);

    assert_eq!(
        respawn::os::control_request(pid, suffix, "ping").unwrap(),
        format!("ok respawn {pid}")
    );
    let bad = respawn::os::control_request(pid, suffix, "reboot").unwrap();
    assert!(bad.starts_with("error unknown request"), "{bad}");
    // Issue 26 item 3: a request of a newer protocol is answered with who started this
    // supervisor and what to do, and not acted on (the restart below finds it running).
    let newer = format!("stop v{}", respawn::control::PROTOCOL + 1);
    let said = respawn::os::control_request(pid, suffix, &newer).unwrap();
    assert!(
        said.starts_with("error ")
            && said.contains("started by respawn ")
            && said.contains("`respawn stop NAME`"),
        "{said}"
    );
    assert_eq!(
        respawn::os::control_request(pid, suffix, "version v2").unwrap(),
        format!(
            "ok respawn {} protocol {} oldest {}",
            respawn::control::version_token(respawn::VERSION),
            respawn::control::PROTOCOL,
            respawn::control::OLDEST
        )
    );

    // The DACL respawn set, read back from the kernel object.
    let dacl = respawn::os::control_pipe_dacl(pid, suffix).unwrap();
    let want = respawn::os::own_control_pipe_sddl().unwrap();
    eprintln!("control pipe DACL: {dacl} (set: {want})");
    assert_eq!(dacl, want);

    respawn::os::signal_supervisor(pid, suffix, respawn::control::Control::Restart).unwrap();
    let s = h.wait_new_child("ctl", first);
    assert_eq!(s["restarts"], 1, "{s:#}");

    respawn::os::signal_supervisor(pid, suffix, respawn::control::Control::Stop).unwrap();
    assert_eq!(wait_exit(&mut sup).code(), Some(0));
    let err =
        respawn::os::signal_supervisor(pid, suffix, respawn::control::Control::Stop).unwrap_err();
    assert!(err.to_string().contains("no control pipe"), "{err}");
}

#[test]
fn a_pipe_squatting_the_name_is_not_obeyed() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Not our pid: the client must notice that this process serves the name.
        let claimed = std::process::id() + 1_000_000;
        let _squatter = tokio::net::windows::named_pipe::ServerOptions::new()
            .create(format!(r"\\.\pipe\respawn-{claimed}"))
            .unwrap();
        let err = tokio::task::spawn_blocking(move || {
            respawn::os::signal_supervisor(claimed, None, respawn::control::Control::Stop)
                .unwrap_err()
        })
        .await
        .unwrap();
        assert!(err.to_string().contains("not by the supervisor"), "{err}");
    });
}

#[test]
fn doctor_checks_the_control_pipe_of_a_running_per_user_supervisor() {
    let h = Harness::new();
    let name = unique_service("CtlDoc");
    let spec = probe_spec(&h, &name);
    ok(&h.cmd(&["install", "--user", "--spec", spec.to_str().unwrap()]));
    let check = |h: &Harness| -> serde_json::Value {
        let report = h.json(&["doctor", &name, "--json"]);
        doctor_check(&report, "control-pipe").clone()
    };
    assert_eq!(check(&h)["status"], "skip");
    ok(&h.cmd(&["start", &name]));
    h.wait_running(&name);
    let c = check(&h);
    assert_eq!(c["status"], "ok", "{c:#}");
    ok(&h.cmd(&["stop", &name]));
    ok(&h.cmd(&["uninstall", &name]));
}
