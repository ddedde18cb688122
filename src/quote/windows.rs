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
    let needs_quotes = arg.is_empty() || arg.contains([' ', '\t', '\n', '\u{b}', '"']);
    if !needs_quotes {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    // Before the closing quote, backslashes must be doubled or they would escape it.
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
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
