//! Admin-only copies of the host's files (issue 15), for real under Wine: the exes and
//! the spec copied into a Program Files / ProgramData layout, a running exe replaced
//! atomically, the protected DACL written and read back with GetNamedSecurityInfoW,
//! and the "can others write this?" check on files the user created.
//! Wine keeps no ACLs on files (docs/wine.md): it accepts the DACL and reads back one
//! made from the Unix mode, so what "admin-only" means is tested purely in run_as.
#![cfg(windows)]

use crate::common::*;
use respawn::admin_files::{install_copies, writable_by_others};
use respawn::os::{self, read_security, replace_file, set_protected_dacl};
use respawn::run_as::Account;
use respawn::trust::sddl::{AdminPaths, Role};
use std::process::{Command, Stdio};
use std::time::Duration;

fn layout(root: &std::path::Path) -> AdminPaths {
    let pf = root.join("Program Files");
    let pd = root.join("ProgramData");
    AdminPaths::new(
        Some(&pf.to_string_lossy()),
        Some(&pd.to_string_lossy()),
        "gw-work",
    )
    .unwrap()
}

fn me() -> Account {
    os::current_identity().unwrap().account
}

#[test]
fn install_copies_the_exes_and_the_spec_under_a_protected_dacl() {
    let root = tempfile::tempdir().unwrap();
    let paths = layout(root.path());
    let src = root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let (a, b) = (src.join("respawn.exe"), src.join("respawnw.exe"));
    std::fs::write(&a, b"first exe").unwrap();
    std::fs::write(&b, b"second exe").unwrap();
    let copies = install_copies(&paths, &[&a, &b], "name = \"gw\"\n", Some(&me())).unwrap();
    assert_eq!(
        copies.exes,
        vec![paths.exe("respawn.exe"), paths.exe("respawnw.exe")]
    );
    assert_eq!(std::fs::read(&copies.exes[0]).unwrap(), b"first exe");
    assert_eq!(std::fs::read(&copies.exes[1]).unwrap(), b"second exe");
    assert_eq!(
        std::fs::read_to_string(&copies.spec).unwrap(),
        "name = \"gw\"\n"
    );
    assert!(copies.spec.starts_with(
        root.path()
            .join("ProgramData")
            .join("respawn")
            .join("gw-work")
    ));
    // Read back: the call chain works; Wine answers with a DACL made from the mode.
    for p in [
        &paths.bin_dir,
        &paths.service_dir,
        &copies.exes[0],
        &copies.spec,
    ] {
        let sddl = read_security(p).unwrap();
        assert!(sddl.contains("D:"), "{}: {sddl}", p.display());
        if !os::running_under_wine() {
            assert!(
                sddl.contains("D:P"),
                "{}: {sddl} is not protected",
                p.display()
            );
        }
    }
    // Reinstall (an upgrade): new bytes, same places, nothing left over.
    std::fs::write(&a, b"upgraded exe").unwrap();
    install_copies(&paths, &[&a, &b], "name = \"gw2\"\n", Some(&me())).unwrap();
    assert_eq!(std::fs::read(&copies.exes[0]).unwrap(), b"upgraded exe");
    assert_eq!(
        std::fs::read_to_string(&copies.spec).unwrap(),
        "name = \"gw2\"\n"
    );
    let mut left: Vec<_> = std::fs::read_dir(&paths.bin_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["respawn.exe", "respawnw.exe"]);
}

#[test]
fn a_running_exe_is_replaced_and_keeps_running() {
    let root = tempfile::tempdir().unwrap();
    let dst = root.path().join("respawn.exe");
    replace_file(&std::env::current_exe().unwrap(), &dst).unwrap();
    let mut running = Command::new(&dst)
        .args(SLEEPER_ARGS)
        .env("RESPAWN_SLEEPER", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(os::is_alive(running.id()), "the copied exe runs");
    let new = root.path().join("new.exe");
    std::fs::write(&new, b"the next version").unwrap();
    let replaced = replace_file(&new, &dst);
    let still_running = os::is_alive(running.id());
    running.kill().unwrap();
    let _ = running.wait();
    replaced.unwrap();
    assert!(
        still_running,
        "replacing the exe must not stop the running copy"
    );
    assert_eq!(std::fs::read(&dst).unwrap(), b"the next version");
}

#[test]
fn a_bad_sddl_is_refused_with_the_sddl_in_the_message() {
    let f = tempfile::NamedTempFile::new().unwrap();
    let err = set_protected_dacl(f.path(), "D:P(A;;FA;;;NOT-A-SID)").unwrap_err();
    assert!(err.to_string().contains("NOT-A-SID"), "{err}");
    assert!(read_security(&f.path().join("missing")).is_err());
}

#[test]
fn a_file_the_user_created_is_writable_by_the_user() {
    // What a run_as = "system" install must refuse: a program in the user's own folder.
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("hermes.exe");
    std::fs::write(&program, b"x").unwrap();
    let findings = writable_by_others(&program).unwrap();
    let file = findings
        .iter()
        .find(|f| f.path == program)
        .unwrap_or_else(|| panic!("{program:?} not reported: {findings:?}"));
    assert_eq!(file.role, Role::File);
    assert!(file.writers().contains(&me().sid), "{findings:?}");
    let message = respawn::admin_files::refusal("the program", &findings);
    assert!(
        message.contains("hermes.exe can be changed by"),
        "{message}"
    );
}
