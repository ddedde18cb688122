//! Windows command lines: one string that the started program splits back into argv
//! with the rules of `CommandLineToArgvW` (and the MSVC/mingw C runtimes).
//!
//! Used for the service's ImagePath and the per-user Run value. No cmd.exe is ever in
//! the path, so cmd's own rules (`%`, `^`, `&`) do not apply: those characters pass
//! through untouched.

/// A whole command line: the program (always quoted, so a path with spaces can never
/// be misread as a shorter path: CWE-428) and its arguments.
pub fn command_line<S: AsRef<str>>(program: &str, args: &[S]) -> String {
    let mut line = quote_program(program);
    for arg in args {
        line.push(' ');
        line.push_str(&quote_arg(arg.as_ref()));
    }
    line
}

/// argv[0] follows simpler rules: everything up to the next `"`, no escapes. Windows
/// paths cannot contain `"`, so wrapping in quotes is always exact.
pub fn quote_program(program: &str) -> String {
    debug_assert!(
        !program.contains('"'),
        "a Windows path cannot contain a double quote"
    );
    format!("\"{program}\"")
}

/// Quote one argument so that it comes back exactly: backslashes are literal except
/// before a `"`, where 2n backslashes + `"` mean n backslashes and a closing quote, and
/// 2n+1 backslashes + `"` mean n backslashes and a literal quote.
pub fn quote_arg(arg: &str) -> String {
    let units: Vec<u16> = arg.encode_utf16().collect();
    let mut out = Vec::with_capacity(units.len() + 2);
    quote_arg_wide(&units, &mut out);
    // Only ASCII was added to valid UTF-16, and never between a surrogate pair.
    String::from_utf16(&out).expect("quoting keeps valid UTF-16 valid")
}

/// [`command_line`] in UTF-16 units, for CreateProcess*: the program and arguments as
/// Windows holds them (an `OsStr`'s wide form), so a name with an unpaired surrogate
/// (legal in Windows names, not in a Rust `str`) comes through unchanged.
pub fn command_line_wide<A: AsRef<[u16]>>(program: &[u16], args: &[A]) -> Vec<u16> {
    debug_assert!(
        !program.contains(&QUOTE),
        "a Windows path cannot contain a double quote"
    );
    let mut line = Vec::with_capacity(program.len() + 2);
    line.push(QUOTE);
    line.extend_from_slice(program);
    line.push(QUOTE);
    for arg in args {
        line.push(u16::from(b' '));
        quote_arg_wide(arg.as_ref(), &mut line);
    }
    line
}

const QUOTE: u16 = b'"' as u16;
const BACKSLASH: u16 = b'\\' as u16;

/// [`quote_arg`] on UTF-16 units, appended to `out`: every character the rules look
/// at is ASCII, so the rest (surrogates included, paired or not) is copied as it is.
fn quote_arg_wide(arg: &[u16], out: &mut Vec<u16>) {
    let special = [b' ', b'\t', b'\n', 0x0b, b'"'].map(u16::from);
    if !arg.is_empty() && !arg.iter().any(|u| special.contains(u)) {
        out.extend_from_slice(arg);
        return;
    }
    out.push(QUOTE);
    let mut backslashes = 0;
    for &u in arg {
        match u {
            BACKSLASH => backslashes += 1,
            QUOTE => {
                out.extend(std::iter::repeat_n(BACKSLASH, backslashes * 2 + 1));
                out.push(QUOTE);
                backslashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat_n(BACKSLASH, backslashes));
                out.push(u);
                backslashes = 0;
            }
        }
    }
    // Before the closing quote, backslashes must be doubled or they would escape it.
    out.extend(std::iter::repeat_n(BACKSLASH, backslashes * 2));
    out.push(QUOTE);
}

/// Split a command line the way `CommandLineToArgvW` does (for tests and for reading
/// back what the SCM or the registry holds).
pub fn split_command_line(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut argv = Vec::new();
    // argv[0]: quoted up to the next quote, or up to whitespace.
    let mut program = String::new();
    if chars.first() == Some(&'"') {
        i = 1;
        while i < chars.len() && chars[i] != '"' {
            program.push(chars[i]);
            i += 1;
        }
        i += 1;
    } else {
        while i < chars.len() && !matches!(chars[i], ' ' | '\t') {
            program.push(chars[i]);
            i += 1;
        }
    }
    argv.push(program);
    loop {
        while i < chars.len() && matches!(chars[i], ' ' | '\t') {
            i += 1;
        }
        if i >= chars.len() {
            return argv;
        }
        let mut arg = String::new();
        let mut in_quotes = false;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                let start = i;
                while i < chars.len() && chars[i] == '\\' {
                    i += 1;
                }
                let n = i - start;
                if i < chars.len() && chars[i] == '"' {
                    arg.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        arg.push('"');
                        i += 1;
                    }
                } else {
                    arg.extend(std::iter::repeat_n('\\', n));
                }
                continue;
            }
            if c == '"' {
                // Inside quotes, "" is a literal quote (the post-2008 CRT rule).
                if in_quotes && chars.get(i + 1) == Some(&'"') {
                    arg.push('"');
                    i += 2;
                    continue;
                }
                in_quotes = !in_quotes;
                i += 1;
                continue;
            }
            if !in_quotes && matches!(c, ' ' | '\t') {
                break;
            }
            arg.push(c);
            i += 1;
        }
        argv.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_wide_line_keeps_unpaired_surrogates_and_quotes_as_the_text_one() {
        let wide = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
        for (program, args) in [
            (
                "C:\\a b\\x.exe",
                vec!["plain", "", "a b", "say \"hi\"", "end\\", "tab\tx"],
            ),
            ("x.exe", vec!["\\\\server\\share\\", "ünï cödé 🚀"]),
        ] {
            let wargs: Vec<Vec<u16>> = args.iter().map(|a| wide(a)).collect();
            assert_eq!(
                String::from_utf16(&command_line_wide(&wide(program), &wargs)).unwrap(),
                command_line(program, &args)
            );
        }
        // A lone high surrogate in the program and an argument, one needing quotes.
        let program = [u16::from(b'p'), 0xD800, u16::from(b'.')];
        let args = [vec![0xDC00, u16::from(b' '), 0xD834], vec![0xDFFF]];
        let line = command_line_wide(&program, &args);
        let mut want = vec![QUOTE];
        want.extend(program);
        want.push(QUOTE);
        want.extend([
            u16::from(b' '),
            QUOTE,
            0xDC00,
            u16::from(b' '),
            0xD834,
            QUOTE,
        ]);
        want.extend([u16::from(b' '), 0xDFFF]);
        assert_eq!(line, want);
    }

    #[test]
    fn known_examples() {
        assert_eq!(quote_arg("plain"), "plain");
        assert_eq!(quote_arg(""), "\"\"");
        assert_eq!(quote_arg("a b"), "\"a b\"");
        assert_eq!(quote_arg(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote_arg(r"C:\a b\"), r#""C:\a b\\""#);
        assert_eq!(quote_arg(r"C:\no\space\"), r"C:\no\space\");
        assert_eq!(quote_arg("100%"), "100%");
        assert_eq!(
            command_line(
                r"C:\Program Files\respawn\respawn.exe",
                &["service-host", "--spec", r"C:\my specs\gw.toml"]
            ),
            r#""C:\Program Files\respawn\respawn.exe" service-host --spec "C:\my specs\gw.toml""#
        );
    }

    #[test]
    fn split_reads_the_known_examples() {
        assert_eq!(
            split_command_line(r#""C:\Program Files\x.exe" a "b c" d\\"e f" "g\"h" """#),
            vec![
                r"C:\Program Files\x.exe",
                "a",
                "b c",
                r#"d\e f"#,
                r#"g"h"#,
                ""
            ]
        );
    }

    proptest! {
        #[test]
        fn any_args_round_trip(
            program in r"[A-Za-z]:\\[A-Za-z0-9 %()._\\-]{0,30}",
            args in proptest::collection::vec(any::<String>().prop_filter("no NUL", |s| !s.contains('\0')), 0..6),
        ) {
            let line = command_line(&program, &args);
            let mut want = vec![program];
            want.extend(args);
            prop_assert_eq!(split_command_line(&line), want);
        }

        #[test]
        fn tricky_alphabet_round_trips(arg in r#"[ \t"\\%^&a]{0,12}"#) {
            let line = command_line("C:\\x.exe", &[arg.as_str()]);
            prop_assert_eq!(split_command_line(&line), vec!["C:\\x.exe".to_string(), arg]);
        }
    }
}

/// The same round trips against the real `CommandLineToArgvW` (run under Wine in CI).
#[cfg(all(test, windows))]
mod native_tests {
    use super::*;
    use crate::os::split_command_line_native;
    use proptest::prelude::*;

    #[test]
    fn the_known_examples_agree_with_windows() {
        let line = command_line(
            r"C:\Program Files\x.exe",
            &["a", "b c", r"d\", r#"e"f"#, "", "100%", r"\\srv\share\"],
        );
        assert_eq!(split_command_line_native(&line), split_command_line(&line));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn windows_splits_our_quoting_back(args in proptest::collection::vec(r#"[ \t"\\%^&a-zé]{0,10}"#, 0..5)) {
            let line = command_line(r"C:\Program Files\x.exe", &args);
            let mut want = vec![r"C:\Program Files\x.exe".to_string()];
            want.extend(args);
            prop_assert_eq!(split_command_line_native(&line), want);
        }
    }
}
