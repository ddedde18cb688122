//! The README's test command prepares the machine itself and fails rather than
//! skips (issue 16, item 16): `.ci/run` is only `scripts/test`, which runs
//! `scripts/setup` before anything else and makes the systemd and Hermes lanes
//! required unless they are skipped by name.

use crate::common::*;
#[cfg(unix)]
use std::process::Command;

/// The script's lines that run something (no comments, no blanks).
fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn ci_runs_exactly_the_readmes_test_command() {
    let ci = read(".ci/run");
    let lines = code_lines(&ci);
    assert_eq!(
        lines,
        [
            "set -euo pipefail",
            "cd \"$(dirname \"${BASH_SOURCE[0]}\")/..\"",
            "exec scripts/test"
        ],
        "CI must do no set-up of its own: put it in scripts/setup"
    );
    let readme = read("README.md");
    let first_screen: String = readme.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(first_screen.contains("\nscripts/test "));
}

#[test]
fn scripts_test_sets_up_first_and_requires_every_lane() {
    let text = read("scripts/test");
    let lines = code_lines(&text);
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("scripts/test has no line with {needle:?}"))
    };
    let setup = pos("scripts/setup");
    assert!(setup < pos("cargo fmt"));
    assert!(setup < pos("cargo test"));
    assert!(pos("export RESPAWN_REQUIRE_SYSTEMD=1") < pos("cargo test"));
    assert!(pos("RESPAWN_REQUIRE_HERMES=1") < pos("cargo test"));
    // The mixed-version tests get the old respawn and fail without it (issue 26).
    let tests = pos("cargo test --locked --no-fail-fast");
    assert!(pos("scripts/old-binary.sh build") < tests);
    assert!(pos("export RESPAWN_OLD_BIN RESPAWN_REQUIRE_OLD_BIN=1") < tests);

    // Everything .ci/run used to install is installed by scripts/setup.
    let setup = read("scripts/setup");
    for what in [
        "systemd",
        "util-linux",
        "python3-venv",
        "scripts/windows-lane.sh setup",
        "rustup component add",
        "scripts/hermes-venv.sh",
        "scripts/wheel-check.sh setup",
    ] {
        assert!(
            setup.contains(what),
            "scripts/setup does not install {what}"
        );
    }
}

#[cfg(unix)]
#[test]
fn the_scripts_parse() {
    for script in [
        "scripts/test",
        "scripts/setup",
        ".ci/run",
        "scripts/wheel-check.sh",
        "scripts/win-imports.sh",
        "scripts/windows-lane.sh",
        "scripts/old-binary.sh",
    ] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(repo_root().join(script))
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A misspelt lane in RESPAWN_SKIP is refused before anything runs (exit 2), so a
/// typo can't quietly change what is checked.
#[cfg(unix)]
#[test]
fn an_unknown_lane_to_skip_is_refused_before_anything_runs() {
    let out = Command::new(repo_root().join("scripts/test"))
        .env("RESPAWN_SKIP", "wheel,windoes")
        .output()
        .expect("scripts/test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown lane 'windoes'"), "{stderr}");
    assert!(!stderr.contains("==>"), "nothing may run first: {stderr}");
}

/// scripts/win-imports.sh (run by the Windows lane on the exes it builds, and by the
/// wheel check on Windows wheels) fails on an exe that imports a DLL that is not part
/// of Windows (here a C runtime, `vcruntime140.dll`, which a LocalSystem host would
/// look for along PATH: issue 25), and passes one that imports only Windows' own.
#[cfg(unix)]
#[test]
fn win_imports_refuses_an_exe_that_imports_a_c_runtime() {
    let gcc = "x86_64-w64-mingw32-gcc";
    if Command::new(gcc).arg("--version").output().is_err() {
        eprintln!("SKIP: no {gcc} (scripts/windows-lane.sh setup installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(args[0])
            .args(&args[1..])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    std::fs::write(dir.path().join("v.c"), "int vc_thing(void) { return 0; }\n").unwrap();
    std::fs::write(
        dir.path().join("m.c"),
        "int vc_thing(void);\nint main(void) { return vc_thing(); }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("plain.c"), "int main(void) { return 0; }\n").unwrap();
    run(&[gcc, "-shared", "-o", "vcruntime140.dll", "v.c"]);
    run(&[gcc, "-o", "m.exe", "m.c", "-L.", "-l:vcruntime140.dll"]);
    run(&[gcc, "-o", "plain.exe", "plain.c"]);
    let check = |file: &str| {
        Command::new(repo_root().join("scripts/win-imports.sh"))
            .arg(file)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = check("m.exe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text.contains("vcruntime140.dll   <- NOT part of Windows"),
        "{text}"
    );
    let out = check("plain.exe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text.contains("msvcrt.dll") && text.contains("only Windows' own DLLs"),
        "{text}"
    );
    // Not a PE file: an error, never a pass.
    assert_eq!(check("m.c").status.code(), Some(2));
}

/// The pinned copy of the old release's source (tests/fixtures/old-respawn-b351e14.tar.xz,
/// which scripts/old-binary.sh builds from in a clone without that commit's history)
/// holds exactly git's files of that commit for what the build needs, byte for byte:
/// so the "old binary" of the mixed-version tests is the same wherever it is built.
#[cfg(unix)]
#[test]
fn the_pinned_old_release_is_gits_b351e14() {
    let root = repo_root();
    let have = Command::new("git")
        .args(["cat-file", "-e", "b351e14^{commit}"])
        .current_dir(&root)
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("SKIP: this clone has no b351e14 to compare the pinned copy with");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pinned, git) = (dir.path().join("pinned"), dir.path().join("git"));
    std::fs::create_dir_all(&pinned).unwrap();
    std::fs::create_dir_all(&git).unwrap();
    let tar = Command::new("tar")
        .arg("-xJf")
        .arg(root.join("tests/fixtures/old-respawn-b351e14.tar.xz"))
        .arg("-C")
        .arg(&pinned)
        .status()
        .unwrap();
    assert!(tar.success());
    let paths = [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "presets",
        ".cargo",
        "examples",
        "docs/reference.md",
    ];
    let archive = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "git archive b351e14 {} | tar -x -C '{}'",
            paths.join(" "),
            git.display()
        ))
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(archive.success());
    // The one file the pinned copy adds: the manifest's [[test]] target must exist.
    let stub = pinned.join("tests/tests.rs");
    assert!(
        stub.is_file(),
        "the pinned copy lacks its tests/tests.rs stub"
    );
    std::fs::remove_dir_all(pinned.join("tests")).unwrap();
    let diff = Command::new("diff")
        .args(["-r", "--brief"])
        .arg(&git)
        .arg(&pinned)
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "the pinned copy differs from git's b351e14:\n{}",
        String::from_utf8_lossy(&diff.stdout)
    );
}
