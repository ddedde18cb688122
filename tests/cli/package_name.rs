//! The published name (issue 16, item 1): `respawn` on crates.io and PyPI belongs to
//! other projects, so respawn ships as `respawn-cli` and installs the command
//! `respawn`. Cargo.toml, pyproject.toml, the README's install lines, the shipping
//! page and the wheel check must all say the same, or a user installs someone else's
//! package.

use crate::common::*;

const PACKAGE: &str = "respawn-cli";

fn toml_file(rel: &str) -> toml::Value {
    toml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn cargo_and_pyproject_publish_the_same_free_name_and_keep_the_command() {
    let cargo = toml_file("Cargo.toml");
    assert_eq!(cargo["package"]["name"].as_str(), Some(PACKAGE));
    // `use respawn::…` and the command `respawn` stay.
    assert_eq!(cargo["lib"]["name"].as_str(), Some("respawn"));
    let bins: Vec<&str> = cargo["bin"]
        .as_array()
        .expect("[[bin]]")
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert!(bins.contains(&"respawn"), "bins: {bins:?}");
    assert_eq!(cargo["package"]["default-run"].as_str(), Some("respawn"));

    let py = toml_file("pyproject.toml");
    assert_eq!(py["project"]["name"].as_str(), Some(PACKAGE));
}

/// Every `pip install …`, `pipx install …`, `uv tool install …` and `cargo install …`
/// of respawn in the user-facing docs names the published package.
#[test]
fn every_install_line_in_the_docs_names_the_published_package() {
    let mut checked = 0;
    for rel in ["README.md", "docs/shipping.md"] {
        let text = read(rel);
        for (n, line) in text.lines().enumerate() {
            for tool in [
                "pip install ",
                "pipx install ",
                "uv tool install ",
                "cargo install ",
            ] {
                let mut rest = line;
                while let Some(at) = rest.find(tool) {
                    let after = &rest[at + tool.len()..];
                    let word = after
                        .split(|c: char| c.is_whitespace() || c == '`')
                        .next()
                        .unwrap_or("");
                    // Other packages (hermes-agent, maturin) and flags are not ours.
                    if word == "respawn"
                        || word.starts_with("respawn-")
                        || word.starts_with("respawn=")
                    {
                        assert_eq!(
                            word,
                            PACKAGE,
                            "{rel}:{}: `{tool}{word}` installs the wrong package: {line}",
                            n + 1
                        );
                        checked += 1;
                    }
                    rest = after;
                }
            }
        }
    }
    assert!(
        checked >= 3,
        "found only {checked} install lines for respawn"
    );
    // The README's "Installing" section names the package.
    let readme = read("README.md");
    let installing = &readme[readme
        .find("## Installing respawn")
        .expect("Installing section")..];
    assert!(installing.contains(&format!("pip install {PACKAGE}")));
    assert!(installing.contains(&format!("cargo install {PACKAGE}")));
}

/// The wheel check expects the wheel file and metadata of the published name
/// (a wheel spells `respawn-cli` as `respawn_cli`).
#[test]
fn the_wheel_check_expects_the_published_name() {
    let script = read("scripts/wheel-check.sh");
    let wheel = PACKAGE.replace('-', "_");
    assert!(script.contains(&format!("\"{wheel}-$VERSION-py3-none-")));
    assert!(script.contains(&format!("f\"{wheel}-{{version}}.data/scripts/\"")));
    assert!(script.contains(&format!("\"Name: {PACKAGE}\"")));
}

/// The Windows lane fails on compiler warnings by finding cargo's summary line,
/// which names the package: a rename must not make it blind.
#[test]
fn the_windows_lane_looks_for_warnings_of_the_published_package() {
    let script = read("scripts/windows-lane.sh");
    assert!(
        script.contains(&format!("'^warning: `{PACKAGE}` .*generated")),
        "scripts/windows-lane.sh greps for another package's warnings"
    );
}
