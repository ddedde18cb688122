//! Generated documentation for the command line: shell completions and the man page.
//!
//! Both are generated from the clap definition in [`crate::cli::Cli`], so they can't
//! drift from the real flags; hidden subcommands and flags are left out by clap.

use super::complete::{parse_shell, SHELLS};
use super::Cli;
use crate::error::CliError;
use crate::exit::ExitStatus;
use clap::CommandFactory;
use clap_mangen::roff::{roman, Roff};
use clap_mangen::Man;
use std::io::Write;

/// Print the completion script for `shell` to stdout.
pub fn completions(shell: &str) -> Result<ExitStatus, CliError> {
    let Some(shell) = parse_shell(shell) else {
        let valid: Vec<&str> = SHELLS.iter().map(|(n, _)| *n).collect();
        return Err(CliError::bad_input(
            format!("unknown shell {shell:?}"),
            format!("valid shells: {}", valid.join(", ")),
        ));
    };
    let exe = std::env::current_exe()?;
    let script = super::complete::registration(&shell.to_string(), &exe.to_string_lossy())?;
    write_stdout(&script)?;
    Ok(ExitStatus::Success)
}

/// The reference beyond the flags: the spec format, exit codes, files, environment.
/// One text, for `respawn help-spec` and the man page; tests/cli/reference.rs checks it
/// against the README. Headings are lines in capitals; ``` fences mark the example.
pub const REFERENCE: &str = include_str!("../../docs/reference.md");

/// The reference as `respawn help-spec` prints it: the text without the fences.
pub fn reference_text() -> String {
    REFERENCE
        .lines()
        .filter(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Print the reference to stdout.
pub fn reference() -> Result<ExitStatus, CliError> {
    write_stdout(reference_text().as_bytes())?;
    Ok(ExitStatus::Success)
}

/// Is this line of the reference a section heading?
fn is_heading(line: &str) -> bool {
    !line.is_empty() && line.chars().all(|c| c.is_ascii_uppercase() || c == ' ')
}

/// The reference as man sections: each heading a `.SH`, its text kept as laid out.
fn reference_roff() -> String {
    let mut roff = Roff::new();
    let mut open = false;
    for line in reference_text().lines() {
        if is_heading(line) {
            if open {
                roff.control("fi", []);
            }
            roff.control("SH", [line]);
            roff.control("nf", []);
            open = true;
        } else if line.trim().is_empty() {
            roff.control("sp", []);
        } else {
            roff.text([roman(line)]);
        }
    }
    if open {
        roff.control("fi", []);
    }
    roff.render()
}

/// One of clap_mangen's section renderers.
type RenderSection = fn(&Man, &mut dyn Write) -> std::io::Result<()>;

/// Print the man page (roff) to stdout.
pub fn man() -> Result<ExitStatus, CliError> {
    let page = render_man()?;
    write_stdout(page.as_bytes())?;
    Ok(ExitStatus::Success)
}

/// One page for the whole tool (`man respawn`): the top-level sections from clap_mangen,
/// then a COMMANDS section with each visible subcommand's synopsis and options, instead
/// of clap_mangen's list of `respawn-SUB(1)` pages that nobody installs.
pub fn render_man() -> std::io::Result<String> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let top = Man::new(cmd.clone());
    // The title carries the roff preamble; every later fragment repeats it, so those
    // go through `section_body`, which drops it.
    let mut out = Vec::new();
    top.render_title(&mut out)?;
    let sections: [RenderSection; 4] = [
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
        Man::render_options_section,
    ];
    for render in sections {
        let mut buf = Vec::new();
        render(&top, &mut buf)?;
        out.extend_from_slice(section_body(&String::from_utf8_lossy(&buf), false).as_bytes());
    }

    let mut commands = Roff::new();
    commands.control("SH", ["COMMANDS"]);
    out.extend_from_slice(section_body(&commands.render(), false).as_bytes());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("respawn {}", sub.get_name());
        // Global flags (--state-dir) and -h/--help are documented once, above.
        let sub = sub
            .clone()
            .bin_name(&name)
            .mut_args(|a| {
                if a.is_global_set() || a.get_id() == "help" {
                    a.hide(true)
                } else {
                    a
                }
            })
            .disable_help_flag(true);
        let visible_args = sub.get_arguments().any(|a| !a.is_hide_set());
        let page = Man::new(sub.clone());

        let mut head = Roff::new();
        head.control("SS", [name.as_str()]);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            head.text([roman(about.to_string())]);
        }
        out.extend_from_slice(section_body(&head.render(), false).as_bytes());

        let mut synopsis = Vec::new();
        page.render_synopsis_section(&mut synopsis)?;
        out.extend_from_slice(b".PP\n");
        out.extend_from_slice(section_body(&String::from_utf8_lossy(&synopsis), true).as_bytes());
        if visible_args {
            let mut options = Vec::new();
            page.render_options_section(&mut options)?;
            out.extend_from_slice(
                section_body(&String::from_utf8_lossy(&options), true).as_bytes(),
            );
        }
    }
    out.extend_from_slice(section_body(&reference_roff(), false).as_bytes());
    let mut version = Vec::new();
    top.render_version_section(&mut version)?;
    out.extend_from_slice(section_body(&String::from_utf8_lossy(&version), false).as_bytes());
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// What a rendered fragment says after the roff preamble that every render repeats
/// (and after its `.SH` heading line when `drop_heading`).
fn section_body(rendered: &str, drop_heading: bool) -> String {
    let mut lines = rendered.lines().peekable();
    while let Some(line) = lines.peek() {
        if line.starts_with(".SH") || line.starts_with(".SS") {
            break;
        }
        lines.next();
    }
    if drop_heading {
        lines.next();
    }
    let mut body = String::new();
    for line in lines {
        body.push_str(line);
        body.push('\n');
    }
    body
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // `respawn man | head` is fine: the reader left, nothing to report.
        Err(e) if super::reader_gone(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_has_every_visible_command_and_no_hidden_one() {
        let page = render_man().unwrap();
        assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
        for sub in Cli::command().get_subcommands() {
            let heading = format!(".SS \"respawn {}\"", sub.get_name());
            let alt = format!(".SS respawn {}", sub.get_name());
            let present = page.contains(&heading) || page.contains(&alt);
            assert_eq!(present, !sub.is_hide_set(), "{}: {page}", sub.get_name());
        }
        assert!(!page.contains("managed"), "{page}");
        assert!(
            !page.contains("respawn-"),
            "no links to per-command pages: {page}"
        );
    }
}
