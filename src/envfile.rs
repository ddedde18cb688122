//! `env_file`: a dotenv file of variables for the child, so secrets (API tokens)
//! stay out of the spec, which is shown, copied and pasted into bug reports.
//!
//! The format, the common subset of dotenv implementations (docker's `--env-file`,
//! python-dotenv, dotenvy):
//!
//! ```text
//! # a comment
//! KEY=value              # unquoted: trimmed; ` #` starts a comment
//! export KEY=value       # `export ` is allowed (the file can be sourced by a shell)
//! KEY="a\nb \"q\" \\"    # double quotes: \n \r \t \" \\ \$ escapes; may span lines
//! KEY='literal $x \n'    # single quotes: taken as written; may span lines
//! KEY=                   # empty
//! ```
//!
//! No `$VAR` expansion: a value is what the file says, whatever respawn's own
//! environment holds. The file is read at every child start, so an edit applies at
//! the next restart; the spec's `[env]` wins over the file for the same key.
//!
//! Parsing is pure ([`parse`]); [`load`] and [`check_permissions`] touch the disk.

use std::path::Path;

/// A variable in the file: name, value, and the line it starts on.
pub type Entry = (String, String);

/// A line the parser could not use, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parse dotenv text into its entries, in file order (a later duplicate wins when
/// they are applied in order).
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    // Byte offset of a subslice of `text` (every slice below is one).
    let at = |sub: &str| sub.as_ptr() as usize - text.as_ptr() as usize;
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let (this, _) = split_line(&text[pos..]);
        let next_line = next_line_start(text, pos);
        let trimmed = this.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            pos = next_line;
            continue;
        }
        let line = 1 + text[..pos].matches('\n').count();
        let err = |message: String| ParseError { line, message };
        let body = trimmed
            .strip_prefix("export")
            .filter(|b| b.starts_with([' ', '\t']))
            .map(str::trim_start)
            .unwrap_or(trimmed);
        let key_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(body.len());
        let key = &body[..key_len];
        if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
            // Never the line's text: the file may not be the one meant (a link), and
            // errors reach the log and the Event Log (issue 25).
            return Err(err(
                "is not KEY=VALUE; a name is letters, digits and _ (not first a digit)".into(),
            ));
        }
        let Some(value) = body[key_len..].trim_start().strip_prefix('=') else {
            return Err(err("has no `=`; write KEY=VALUE (or KEY= for empty)".into()));
        };
        let value = value.trim_start_matches([' ', '\t']);
        let (value, next) = match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let open = at(value) + 1;
                let (inner, used) = quoted(&text[open..], q)
                    .ok_or_else(|| err(format!("the {q} quote is never closed; close it")))?;
                let after = open + used;
                let (tail, _) = split_line(&text[after..]);
                let tail = tail.trim();
                if !(tail.is_empty() || tail.starts_with('#')) {
                    return Err(err(
                        "text after the closing quote; put it inside the quotes, or start a comment with #".into(),
                    ));
                }
                (inner, next_line_start(text, after))
            }
            _ => (unquoted(value), next_line),
        };
        if value.contains('\0') {
            return Err(err("the value contains a NUL character".into()));
        }
        entries.push((key.to_string(), value));
        pos = next;
    }
    Ok(entries)
}

/// Where the line after the one holding byte `pos` starts (or the end).
fn next_line_start(text: &str, pos: usize) -> usize {
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

/// (the line without its end, everything after the line end)
fn split_line(text: &str) -> (&str, &str) {
    match text.find('\n') {
        Some(i) => (
            text[..i].strip_suffix('\r').unwrap_or(&text[..i]),
            &text[i + 1..],
        ),
        None => (text, ""),
    }
}

/// An unquoted value: trimmed, cut at ` #`.
fn unquoted(text: &str) -> String {
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        if c == '#' && (i == 0 || text[..i].ends_with([' ', '\t'])) {
            end = i;
            break;
        }
    }
    text[..end].trim().to_string()
}

/// The value inside quotes (the opening one already consumed): (value, bytes used
/// including the closing quote), or None when it is never closed.
fn quoted(text: &str, q: char) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == q => return Some((value, i + 1)),
            '\\' if q == '"' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    '"' | '\\' | '$' | '\'' => value.push(e),
                    // An unknown escape is kept as written, as shells and python-dotenv do.
                    other => {
                        value.push('\\');
                        value.push(other);
                    }
                }
            }
            c => value.push(c),
        }
    }
    None
}

/// Write entries so that [`parse`] reads them back exactly (double-quoted, escaped).
pub fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '$' => out.push_str("\\$"),
                c => out.push(c),
            }
        }
        out.push_str("\"\n");
    }
    out
}

/// Read and parse the file; errors name the file and say what to do.
pub fn load(path: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "env_file {}: cannot read it: {e}; create it (KEY=VALUE lines) or fix env_file in the spec",
            path.display()
        )
    })?;
    parse(&text).map_err(|e| format!("env_file {}: {e}", path.display()))
}

/// What the file's permissions allow that they should not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// Someone else can change what the service runs with: refused.
    Writable { by: &'static str },
    /// Anyone on the machine can read the secrets in it: a warning.
    WorldReadable,
}

impl Exposure {
    /// The problem, and the command that fixes it.
    pub fn describe(&self, path: &Path) -> (String, String) {
        match self {
            Exposure::Writable { by } => (
                format!(
                    "env_file {} is writable by {by}: they could change what the service runs with",
                    path.display()
                ),
                format!("chmod go-w {}", crate::text::shell_path(path)),
            ),
            Exposure::WorldReadable => (
                format!(
                    "env_file {} is readable by everyone on this machine, and it holds secrets",
                    path.display()
                ),
                format!("chmod 600 {}", crate::text::shell_path(path)),
            ),
        }
    }
}

/// The decision, from the mode bits alone (pure, for the table test).
pub fn exposure_of_mode(mode: u32) -> Option<Exposure> {
    if mode & 0o002 != 0 {
        Some(Exposure::Writable { by: "everyone" })
    } else if mode & 0o020 != 0 {
        Some(Exposure::Writable { by: "its group" })
    } else if mode & 0o004 != 0 {
        Some(Exposure::WorldReadable)
    } else {
        None
    }
}

/// The file's exposure on this machine. On Windows, ACLs are not checked (None).
pub fn check_permissions(path: &Path) -> std::io::Result<Option<Exposure>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        Ok(exposure_of_mode(mode))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path)?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_documented_forms() {
        let text = "# comment\n\
                    \n\
                    A=plain value  # trailing comment\n\
                    export B=exported\n\
                    \tC = spaced \n\
                    D=\"a\\nb \\\"q\\\" \\\\ \\$x # not a comment\"  # comment\n\
                    E='lit $x \\n # kept'\n\
                    F=\n\
                    G=a#b\n\
                    H=\"multi\nline\"\n\
                    I=last";
        assert_eq!(
            kv(text),
            pairs(&[
                ("A", "plain value"),
                ("B", "exported"),
                ("C", "spaced"),
                ("D", "a\nb \"q\" \\ $x # not a comment"),
                ("E", "lit $x \\n # kept"),
                ("F", ""),
                ("G", "a#b"),
                ("H", "multi\nline"),
                ("I", "last"),
            ])
        );
    }

    #[test]
    fn crlf_files_parse_like_lf_files() {
        assert_eq!(
            kv("A=1\r\nB=\"2\"\r\n# c\r\nC='3'\r\n"),
            pairs(&[("A", "1"), ("B", "2"), ("C", "3")])
        );
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let e = parse("A=1\n\nnot a pair\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("write KEY=VALUE"), "{}", e.message);
        // Nothing of the file's text is echoed (issue 25): a link may point the host
        // at a file of secrets, and errors reach the log and the Event Log.
        for text in [
            "secret-token-xyz\n",
            "secret-token-xyz y\n",
            "SECRET=\"xyz\" tail-secret\n",
            "SECRET=\"never closed\n",
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                !e.message.contains("secret") && !e.message.contains("SECRET"),
                "{}",
                e.message
            );
        }
        let e = parse("=x\n").unwrap_err();
        assert!(e.message.contains("is not KEY=VALUE"), "{}", e.message);
        let e = parse("A=1\nB=\"open\nC=2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("never closed"), "{}", e.message);
        let e = parse("A=\"x\" y\n").unwrap_err();
        assert!(
            e.message.contains("after the closing quote"),
            "{}",
            e.message
        );
        let e = parse("1A=x\n").unwrap_err();
        assert!(e.message.contains("not first a digit"), "{}", e.message);
        let e = parse("KEY\n").unwrap_err();
        assert!(e.message.contains("KEY=VALUE"), "{}", e.message);
        // The line count goes on after a value that spans lines.
        let e = parse("A=\"1\n2\n3\"\nbad\n").unwrap_err();
        assert_eq!(e.line, 4);
    }

    #[test]
    fn exposure_table() {
        for (mode, want) in [
            (0o600, None),
            (0o640, None),
            (0o400, None),
            (0o644, Some(Exposure::WorldReadable)),
            (0o604, Some(Exposure::WorldReadable)),
            (0o660, Some(Exposure::Writable { by: "its group" })),
            (0o602, Some(Exposure::Writable { by: "everyone" })),
            (0o666, Some(Exposure::Writable { by: "everyone" })),
            (0o100600, None),
        ] {
            assert_eq!(exposure_of_mode(mode), want, "{mode:o}");
        }
    }

    proptest! {
        /// Whatever the values hold (quotes, backslashes, $, newlines, #, unicode),
        /// render then parse gives them back.
        #[test]
        fn render_parse_round_trip(
            entries in proptest::collection::vec(
                ("[A-Za-z_][A-Za-z0-9_]{0,8}", "[^\u{0}]{0,24}"),
                0..6,
            )
        ) {
            prop_assert_eq!(parse(&render(&entries)).unwrap(), entries);
        }

        /// No input panics.
        #[test]
        fn any_text_parses_or_errs(text in "\\PC{0,64}") {
            let _ = parse(&text);
        }
    }
}
