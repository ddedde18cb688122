//! Help outside the README (issue 16, item 12): `respawn help-spec` and the man page
//! carry one text (docs/reference.md) with the spec format, exit codes, files and
//! environment; it agrees with the README where they overlap; error hints point at
//! it, not at a README an installed binary does not have.

use crate::common::*;
use respawn::cli::docs::REFERENCE;
use respawn::exit::ExitStatus;
use respawn::spec::Spec;
use std::path::Path;

/// The first ```toml block of a Markdown text.
fn toml_block(text: &str) -> &str {
    let start = text.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
    let len = text[start..].find("```").expect("closed block");
    &text[start..start + len]
}

/// A spec example's settings without the comments: what the two texts must share.
fn settings(block: &str) -> Vec<String> {
    block
        .lines()
        .map(|l| {
            // `#` inside a quoted value is not a comment; the examples have none.
            let code = if l.trim_start().starts_with('#') {
                ""
            } else {
                l.split(" #").next().unwrap()
            };
            code.trim().to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).unwrap()
}

#[test]
fn the_reference_and_the_readme_show_the_same_spec() {
    let ours = toml_block(REFERENCE);
    let readme = readme();
    let theirs = toml_block(&readme);
    assert_eq!(
        settings(ours),
        settings(theirs),
        "docs/reference.md and the README's spec example differ"
    );
    Spec::parse(ours, None, Path::new("/")).unwrap();
    // Every section of the format is in the example.
    for section in ["[env]", "[restart]", "[stop]", "[logs]", "[names]"] {
        assert!(ours.contains(section), "{section}");
    }
}

/// The exit codes: every code in the README's table is in the reference, and the
/// codes match the constants the code uses.
#[test]
fn the_exit_codes_agree_with_the_readme_and_the_code() {
    let section =
        &REFERENCE[REFERENCE.find("EXIT CODES").unwrap()..REFERENCE.find("FILES").unwrap()];
    let codes: Vec<i32> = section
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    for code in [
        ExitStatus::Success,
        ExitStatus::NotRunning,
        ExitStatus::NotInstalled,
        ExitStatus::BadInput,
        ExitStatus::GaveUp,
        ExitStatus::Failure,
    ]
    .map(ExitStatus::code)
    {
        assert!(
            codes.contains(&code),
            "exit {code} is not in the reference: {codes:?}"
        );
    }
    let readme = readme();
    let table = &readme[readme.find("| exit code |").unwrap()..];
    for line in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let code: i32 = line
            .trim_matches('|')
            .split('|')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            codes.contains(&code),
            "README exit {code} is not in the reference"
        );
    }
}

#[test]
fn help_spec_prints_the_reference_and_the_man_page_carries_it() {
    let h = Harness::new();
    let text = ok(&h.cmd(&["help-spec"]));
    for heading in ["THE SPEC", "EXIT CODES", "FILES", "ENVIRONMENT"] {
        assert!(text.contains(&format!("{heading}\n")), "{heading}: {text}");
    }
    assert!(text.contains("prevent_restart_exit_codes = [78]"), "{text}");
    assert!(text.contains("RESPAWN_STATE_DIR"), "{text}");
    assert!(
        !text.contains("```"),
        "no Markdown fences in a terminal: {text}"
    );

    let man = ok(&h.cmd(&["man"]));
    for heading in ["THE SPEC", "EXIT CODES", "FILES", "ENVIRONMENT"] {
        assert!(
            man.contains(&format!(".SH \"{heading}\""))
                || man.contains(&format!(".SH {heading}\n")),
            "{heading} not a man section"
        );
    }
    assert!(man.contains("prevent_restart_exit_codes = [78]"));
}

#[test]
fn a_bad_spec_points_at_help_spec_not_at_the_readme() {
    let h = Harness::new();
    let spec = h.spec("bad.toml", "name = \"x\"\ncomand = \"sh\"\n");
    let out = h.check(&spec);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("respawn help-spec"), "{stderr}");
    assert!(!stderr.contains("README"), "{stderr}");
}

/// No message the program prints sends people to the README (comments may).
#[test]
fn no_message_in_the_source_mentions_the_readme() {
    let mut offenders = Vec::new();
    let mut stack = vec![repo_root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap();
                    if code.contains("README") {
                        offenders.push(format!("{}:{}: {line}", path.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
