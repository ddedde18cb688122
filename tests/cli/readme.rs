//! The README's spec reference is a spec: every ```toml block in it parses, so the
//! documentation can't drift from the format.

use crate::common::*;
use respawn::spec::Spec;
use std::path::Path;

#[test]
fn every_toml_block_in_the_readme_is_a_valid_spec() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let mut blocks = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```").expect("closed code block");
        let spec = Spec::parse(&body[..end], None, Path::new("/"))
            .unwrap_or_else(|e| panic!("README spec block {blocks}: {e}\n{}", &body[..end]));
        assert!(!spec.name.is_empty());
        blocks += 1;
        rest = &body[end..];
    }
    assert!(blocks >= 1, "the README has a spec reference block");
}

/// The README's first command is `cargo run -- run --spec …`; with two binaries
/// (respawn, respawnw) that only works when the manifest names the default one.
#[test]
fn the_readmes_cargo_run_command_has_a_default_binary() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let first_screen: String = readme.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(first_screen.contains("cargo run -- run --spec examples/echo.toml"));
    assert!(root.join("examples/echo.toml").is_file());
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
    assert_eq!(manifest["package"]["default-run"].as_str(), Some("respawn"));
}
