//! Sets RESPAWN_VERSION: the package version, plus the commit for a build from a git
//! checkout (`respawn 0.2.0 (commit 1a2b3c4d5e6f)`), so builds of one version can be
//! told apart (issue 26 item 7). A build without git (a crate or wheel from an sdist)
//! is the version alone.

use std::process::Command;

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let full = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            // Built again when HEAD moves (a commit, a checkout), not on every build.
            for path in ["HEAD", "logs/HEAD"] {
                if let Some(p) = git(&["rev-parse", "--git-path", path]) {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
            format!("{version} (commit {commit})")
        }
        _ => version,
    };
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=RESPAWN_VERSION={full}");
}
