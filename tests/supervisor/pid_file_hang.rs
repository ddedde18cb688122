//! Issue 25: a `pid_file` whose read never returns (a slow network share, a hung
//! FUSE mount; on Windows a pipe) must not hang the engine, stop included. The engine
//! is the same for `respawn run` and the Windows service host, so this shows it on
//! Linux for real: a tiny FUSE file system served by this test answers `stat` for
//! `gw.pid` (a regular file) and never answers its `open`. It is mounted in a private
//! mount namespace (`unshare -m`, needs root or CAP_SYS_ADMIN; SKIP otherwise), so it
//! is invisible outside and goes away with the supervisor; the test's end of
//! /dev/fuse closing aborts any request still waiting.
#![cfg(target_os = "linux")]

use crate::common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

const LOOKUP: u32 = 1;
const FORGET: u32 = 2;
const GETATTR: u32 = 3;
const OPEN: u32 = 14;
const INIT: u32 = 26;
const INTERRUPT: u32 = 36;
const BATCH_FORGET: u32 = 42;
const ENOENT: i32 = 2;
const ENOSYS: i32 = 38;

/// `fuse_attr`: a folder (node 1) or the regular file `gw.pid` (node 2).
fn attr(node: u64) -> Vec<u8> {
    let (mode, nlink, size) = if node == 1 {
        (0o040755u32, 2u32, 0u64)
    } else {
        (0o100644, 1, 8)
    };
    let mut a = Vec::new();
    for v in [node, size, 1, 0, 0, 0] {
        a.extend_from_slice(&v.to_ne_bytes()); // ino, size, blocks, a/m/ctime
    }
    for v in [0u32, 0, 0, mode, nlink, 0, 0, 0, 4096, 0] {
        a.extend_from_slice(&v.to_ne_bytes()); // nsecs, mode, nlink, uid, gid, rdev, blksize, flags
    }
    a
}

fn reply(dev: &mut File, unique: u64, error: i32, body: &[u8]) {
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
    out.extend_from_slice(&(-error).to_ne_bytes());
    out.extend_from_slice(&unique.to_ne_bytes());
    out.extend_from_slice(body);
    let _ = dev.write(&out);
}

/// Serve /dev/fuse until it is closed: `gw.pid` stats as a regular file, its open is
/// not answered (the request's number is told on `opened`, for the test to answer).
fn serve(mut dev: File, opened: mpsc::Sender<u64>) {
    let mut buf = vec![0u8; 1 << 20];
    let mut waited = 0;
    loop {
        let n = match dev.read(&mut buf) {
            Ok(n) => n,
            // Not mounted yet.
            Err(e) if e.raw_os_error() == Some(1) && waited < 2000 => {
                waited += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
            Err(_) => return,
        };
        if n < 40 {
            return;
        }
        let u32_at = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_ne_bytes(buf[o..o + 8].try_into().unwrap());
        let (opcode, unique, node) = (u32_at(4), u64_at(8), u64_at(16));
        let body = &buf[40..n];
        match opcode {
            INIT => {
                let mut out = Vec::new();
                for v in [7u32, 31, 0, 0] {
                    out.extend_from_slice(&v.to_ne_bytes()); // major, minor, readahead, flags
                }
                out.extend_from_slice(&[0u8; 4]); // max_background, congestion_threshold
                out.extend_from_slice(&4096u32.to_ne_bytes()); // max_write
                out.extend_from_slice(&1u32.to_ne_bytes()); // time_gran
                out.resize(64, 0);
                reply(&mut dev, unique, 0, &out);
            }
            LOOKUP => {
                let name = body.split(|b| *b == 0).next().unwrap_or_default();
                if node == 1 && name == b"gw.pid" {
                    let mut out = Vec::new();
                    for v in [2u64, 0, 0, 0] {
                        out.extend_from_slice(&v.to_ne_bytes()); // nodeid, generation, valid
                    }
                    out.extend_from_slice(&[0u8; 8]);
                    out.extend_from_slice(&attr(2));
                    reply(&mut dev, unique, 0, &out);
                } else {
                    reply(&mut dev, unique, ENOENT, &[]);
                }
            }
            GETATTR => {
                let mut out = vec![0u8; 16];
                out.extend_from_slice(&attr(node));
                reply(&mut dev, unique, 0, &out);
            }
            // The hang: no answer here.
            OPEN => {
                let _ = opened.send(unique);
            }
            FORGET | BATCH_FORGET | INTERRUPT => {}
            _ => reply(&mut dev, unique, ENOSYS, &[]),
        }
    }
}

#[test]
fn a_pid_file_whose_read_never_returns_does_not_hang_the_stop() {
    let h = Harness::new();
    let probe = Command::new("unshare")
        .args(["-m", "true"])
        .stderr(Stdio::null())
        .status();
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse");
    let (Ok(dev), true) = (dev, probe.is_ok_and(|s| s.success())) else {
        eprintln!("SKIP: no /dev/fuse or no private mount namespace (needs root)");
        return;
    };
    let mnt = h.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let marker = h.path("stop.json");
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"pfh\"\ncommand = \"sleep\"\nargs = [\"99125\"]\npid_file = {:?}\n[stop]\nmethod = \"file\"\nfile = {:?}\ncontents = \"{{pid}}\"\ntimeout = \"1s\"\n",
            mnt.join("gw.pid").display().to_string(),
            marker.display().to_string()
        ),
    );
    let (opened_tx, opened) = mpsc::channel();
    let server = dev.try_clone().unwrap();
    let dev_answer = dev.try_clone().unwrap();
    std::thread::spawn(move || serve(server, opened_tx));
    // /dev/fuse is the mount's stdin (fd=0); the supervisor gets /dev/null instead.
    let script = r#"mount -i -t fuse -o fd=0,rootmode=40000,user_id=0,group_id=0 respawn-test "$1" || exit 90
exec 0</dev/null
exec "$2" run --spec "$3""#;
    let mut sup = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(env!("CARGO_BIN_EXE_respawn"))
        .arg(&spec)
        .env("RESPAWN_STATE_DIR", h.state_root())
        .stdin(Stdio::from(dev))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut answer = dev_answer;
    let child = h.wait_running("pfh");
    // The supervisor's look at the pid file is stuck in its open now.
    let open = opened
        .recv_timeout(DEADLINE)
        .expect("the pid file was opened");
    assert!(sup.try_wait().unwrap().is_none(), "the supervisor runs on");
    // The stop asks the child's pid (the pid file gave none), and the run ends while
    // the read is still stuck. (The process itself cannot exit before: Linux waits,
    // uninterruptibly, for a FUSE request its server has taken.)
    signal(sup.id(), nix::sys::signal::Signal::SIGTERM);
    let stopped = h.wait_state("pfh", "stopped", |s| s["state"] == "stopped");
    assert!(!alive(child), "{stopped:#}");
    // Now answer the open (no such file): the supervisor exits.
    reply(&mut answer, open, ENOENT, &[]);
    let status = wait_exit(&mut sup);
    assert!(status.success(), "{status:?}\n{}", h.log("pfh"));
    let log = h.log("pfh");
    assert!(
        log.contains("the read did not return within 1s; stopping the child instead"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        child.to_string(),
        "the marker names the child"
    );
}
