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

/// The README's "first service in three commands" works as written: the three lines
/// of its block run for real (with the portable backend, so the test needs no service
/// manager, and a free port instead of 8000), and the server answers.
#[cfg(unix)]
#[test]
fn the_first_service_in_three_commands_runs_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let at = readme
        .find("## A first service in three commands")
        .expect("the README has its first-service section");
    let block = &readme[at..];
    let body = &block[block.find("```sh\n").unwrap() + "```sh\n".len()..];
    let body = &body[..body.find("```").unwrap()];
    let commands: Vec<Vec<String>> = body
        .lines()
        .map(|l| l.split(" # ").next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(commands.len(), 3, "three commands: {commands:?}");
    let h = Harness::new();
    let port = free_port().to_string();
    for (i, words) in commands.iter().enumerate() {
        assert_eq!(words[0], "respawn", "{words:?}");
        let mut args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        for a in args.iter_mut() {
            if *a == "8000" {
                *a = &port;
            }
        }
        if args[0] == "install" {
            args.splice(1..1, ["--backend", "portable"]);
        }
        let out = h.cmd(&args);
        let said = text(&out);
        assert!(out.status.success(), "command {}: {args:?}: {said}", i + 1);
        if args[0] == "status" {
            assert!(said.contains("running"), "{said}");
        }
    }
    assert!(
        wait_for("the server answers", || std::net::TcpStream::connect((
            "127.0.0.1",
            port.parse::<u16>().unwrap()
        ))
        .is_ok()),
        "nothing listens on {port}"
    );
    ok(&h.cmd(&["uninstall", "web"]));
}
