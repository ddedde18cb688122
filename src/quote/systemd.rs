//! systemd unit files: one escaping function per kind of setting, and the inverse
//! (systemd's own word splitting and unescaping) for tests and for reading units back.
//!
//! What systemd does to a value, in order (systemd 252, `src/core/load-fragment.c`):
//! 1. words are split with C-style quoting (`extract_first_word` with UNQUOTE and
//!    CUNESCAPE): `"…"` groups, `\\`, `\"`, `\n`, `\t`, `\xNN`, … are unescaped;
//! 2. each word has its specifiers expanded: `%%` is a literal `%`, `%n` the unit name …;
//! 3. ExecStart= only, when the program starts: `$VAR`/`${VAR}` are replaced from the
//!    environment and `$$` is a literal `$`.
//!
//! So a word is quoted by doubling `%` (and, in ExecStart=, `$`), then C-escaping it
//! inside double quotes. Every word is quoted, even a plain one: then no word can be
//! taken for a `;` command separator or start with a `-`/`@` prefix by accident.

use std::fmt::Write as _;

/// A value that a unit file cannot hold, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuoteError(pub String);

/// One word of an `ExecStart=`/`ExecStop=` command line.
pub fn exec_word(word: &str) -> String {
    quoted(word, true)
}

/// A whole `ExecStart=` value: the program (an absolute path) and its arguments.
pub fn exec_line<S: AsRef<str>>(program: &str, args: &[S]) -> Result<String, QuoteError> {
    if !program.starts_with('/') {
        // A relative first word would be looked up in systemd's own fixed PATH, and
        // a leading `-`, `@`, `+`, `:` or `!` would be read as a prefix.
        return Err(QuoteError(format!(
            "the program `{program}` must be an absolute path in a unit file"
        )));
    }
    let mut line = exec_word(program);
    for arg in args {
        line.push(' ');
        line.push_str(&exec_word(arg.as_ref()));
    }
    Ok(line)
}

/// One `Environment=` assignment, `"NAME=value"`. systemd only accepts names made of
/// ASCII letters, digits and `_`, not starting with a digit.
pub fn environment_assignment(name: &str, value: &str) -> Result<String, QuoteError> {
    if !is_valid_env_name(name) {
        return Err(QuoteError(format!(
            "`{name}` is not an environment variable name systemd accepts; use ASCII letters, digits and _, not starting with a digit"
        )));
    }
    Ok(quoted(&format!("{name}={value}"), false))
}

/// Free text such as `Description=`: not unquoted by systemd, only specifier-expanded.
/// A line break cannot be written at all, and a trailing backslash would continue the
/// line, so control characters become spaces and trailing backslashes are dropped.
pub fn text_value(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line
        .trim()
        .trim_end_matches('\\')
        .trim_end()
        .replace('%', "%%")
}

/// A path setting such as `WorkingDirectory=`: taken as written (no unquoting), only
/// specifier-expanded, so it must be absolute and fit on one line.
pub fn path_value(path: &str) -> Result<String, QuoteError> {
    if !path.starts_with('/') {
        return Err(QuoteError(format!("`{path}` must be an absolute path")));
    }
    if path.chars().any(char::is_control) || path.trim_end() != path || path.ends_with('\\') {
        return Err(QuoteError(format!(
            "the path {path:?} cannot be written in a unit file (control characters, trailing spaces or backslash)"
        )));
    }
    Ok(path.replace('%', "%%"))
}

pub fn is_valid_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn quoted(word: &str, in_exec: bool) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' if in_exec => out.push_str("$$"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // Other ASCII controls would be invisible (or end the line): spell them out.
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            // Everything else, non-ASCII included, is valid UTF-8 that systemd keeps as is.
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- the inverse: what systemd makes of a value ----

/// Split an `ExecStart=` value into argv as systemd does, expanding `%%` and `$$`.
/// Any other specifier or variable reference is an error: we never write them.
pub fn split_exec_line(line: &str) -> Result<Vec<String>, QuoteError> {
    split_words(line)?
        .into_iter()
        .map(|w| unescape_specifiers(&w).and_then(|w| unescape_dollars(&w)))
        .collect()
}

/// The `(name, value)` pairs of an `Environment=` value.
pub fn split_environment(line: &str) -> Result<Vec<(String, String)>, QuoteError> {
    split_words(line)?
        .into_iter()
        .map(|w| {
            let w = unescape_specifiers(&w)?;
            match w.split_once('=') {
                Some((name, value)) if is_valid_env_name(name) => {
                    Ok((name.to_string(), value.to_string()))
                }
                _ => Err(QuoteError(format!("`{w}` is not an assignment"))),
            }
        })
        .collect()
}

/// systemd's `extract_first_word(…, EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)`, repeated.
pub fn split_words(line: &str) -> Result<Vec<String>, QuoteError> {
    let is_sep = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| is_sep(*c)).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => word.push_str(&unescape_one(&mut chars)?),
                (c, Some(q)) if c == q => quote = None,
                ('"' | '\'', None) => quote = Some(c),
                (c, None) if is_sep(c) => break,
                (c, _) => word.push(c),
            }
        }
        if quote.is_some() {
            return Err(QuoteError(format!("unbalanced quoting in {line:?}")));
        }
        words.push(word);
    }
}

/// systemd's `cunescape_one`: the text after a backslash.
fn unescape_one(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<String, QuoteError> {
    let bad = |what: &str| QuoteError(format!("bad escape sequence: {what}"));
    let take_digits = |chars: &mut std::iter::Peekable<std::str::Chars>, n: usize, radix: u32| {
        let digits: String = (0..n).filter_map(|_| chars.next()).collect();
        if digits.chars().count() != n {
            return Err(bad("too short"));
        }
        u32::from_str_radix(&digits, radix).map_err(|_| bad(&digits))
    };
    let c = match chars.next() {
        Some('a') => '\u{7}',
        Some('b') => '\u{8}',
        Some('f') => '\u{c}',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('v') => '\u{b}',
        Some('s') => ' ',
        Some(c @ ('\\' | '"' | '\'')) => c,
        Some('x') => {
            let byte = take_digits(chars, 2, 16)?;
            // One byte: only ASCII makes a whole character on its own.
            char::from_u32(byte)
                .filter(char::is_ascii)
                .ok_or_else(|| bad("\\x above 7f"))?
        }
        Some('u') => char::from_u32(take_digits(chars, 4, 16)?).ok_or_else(|| bad("\\u"))?,
        Some('U') => char::from_u32(take_digits(chars, 8, 16)?).ok_or_else(|| bad("\\U"))?,
        Some(d @ '0'..='7') => {
            let rest = take_digits(chars, 2, 8)?;
            let value = (d as u32 - '0' as u32) * 64 + rest;
            char::from_u32(value)
                .filter(char::is_ascii)
                .ok_or_else(|| bad("octal above 177"))?
        }
        other => {
            return Err(bad(&format!(
                "\\{}",
                other.map(String::from).unwrap_or_default()
            )))
        }
    };
    if c == '\0' {
        return Err(bad("NUL"));
    }
    Ok(c.to_string())
}

fn unescape_specifiers(word: &str) -> Result<String, QuoteError> {
    unescape_doubled(word, '%', "specifier")
}

fn unescape_dollars(word: &str) -> Result<String, QuoteError> {
    unescape_doubled(word, '$', "variable reference")
}

/// `cc` → `c`; a single `c` followed by anything else is a reference we don't expect.
fn unescape_doubled(word: &str, c: char, what: &str) -> Result<String, QuoteError> {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars();
    while let Some(ch) = chars.next() {
        if ch == c && chars.next() != Some(c) {
            return Err(QuoteError(format!("unexpected {what} in {word:?}")));
        }
        out.push(ch);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_examples() {
        assert_eq!(exec_word("plain"), "\"plain\"");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(exec_word("100% $HOME"), "\"100%% $$HOME\"");
        assert_eq!(exec_word("say \"hi\"\\"), r#""say \"hi\"\\""#);
        assert_eq!(exec_word("a\nb\tc\u{1}"), r#""a\nb\tc\x01""#);
        assert_eq!(exec_word("ü ;"), "\"ü ;\"");
        assert_eq!(
            exec_line("/usr/bin/env", &["a b", "$X"]).unwrap(),
            r#""/usr/bin/env" "a b" "$$X""#
        );
        assert_eq!(
            environment_assignment("A", "x $y 5%").unwrap(),
            "\"A=x $y 5%%\""
        );
    }

    #[test]
    fn refuses_what_a_unit_cannot_say() {
        assert!(exec_line("sh", &["x"]).is_err());
        assert!(exec_line("-/bin/sh", &["x"]).is_err());
        for bad in ["", "1A", "A-B", "Ä", "A B"] {
            assert!(environment_assignment(bad, "v").is_err(), "{bad}");
        }
        assert!(path_value("rel/dir").is_err());
        assert!(path_value("/a\nb").is_err());
        assert!(path_value("/a ").is_err());
        assert_eq!(path_value("/srv/100% sure").unwrap(), "/srv/100%% sure");
    }

    #[test]
    fn text_stays_on_one_line_and_cannot_continue_it() {
        assert_eq!(
            text_value("gateway\nfor 100% of\tus \\\\"),
            "gateway for 100%% of us"
        );
        assert_eq!(text_value("  x  "), "x");
    }

    #[test]
    fn splitting_follows_systemd() {
        assert_eq!(
            split_words(r#"a "b c"d 'e "f' \x41\s\101 "\u00fc""#).unwrap(),
            vec!["a", "b cd", "e \"f", "A A", "ü"]
        );
        assert!(split_words("\"open").is_err());
        assert_eq!(split_exec_line(r#""%%" "$$$$""#).unwrap(), vec!["%", "$$"]);
        assert!(split_exec_line("\"%n\"").is_err());
        assert!(split_exec_line("\"$HOME\"").is_err());
        assert_eq!(
            split_environment(r#""A=1 2" B=%%"#).unwrap(),
            vec![("A".into(), "1 2".into()), ("B".into(), "%".into())]
        );
    }

    fn no_nul() -> impl Strategy<Value = String> {
        any::<String>().prop_filter("no NUL", |s| !s.contains('\0'))
    }

    proptest! {
        #[test]
        fn any_exec_line_round_trips(
            program in "/[a-zA-Z0-9 %$._/-]{0,20}",
            args in proptest::collection::vec(no_nul(), 0..6),
        ) {
            let line = exec_line(&program, &args).unwrap();
            prop_assert!(!line.contains('\n'), "one line: {}", line);
            let mut want = vec![program];
            want.extend(args);
            prop_assert_eq!(split_exec_line(&line).unwrap(), want);
        }

        #[test]
        fn tricky_alphabet_round_trips(arg in r#"[ \t\n"'\\%$;a\x01\x7fü]{0,12}"#) {
            let line = exec_line("/bin/x", &[arg.as_str()]).unwrap();
            prop_assert_eq!(split_exec_line(&line).unwrap(), vec!["/bin/x".to_string(), arg]);
        }

        #[test]
        fn any_environment_round_trips(name in "[A-Za-z_][A-Za-z0-9_]{0,10}", value in no_nul()) {
            let line = environment_assignment(&name, &value).unwrap();
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(split_environment(&line).unwrap(), vec![(name, value)]);
        }

        #[test]
        fn text_is_one_safe_line(text in any::<String>()) {
            let v = text_value(&text);
            prop_assert!(!v.chars().any(char::is_control));
            prop_assert!(!v.ends_with('\\'));
            // Every `%` is doubled, so systemd expands no specifier in it.
            prop_assert!(unescape_specifiers(&v).is_ok());
        }
    }
}
