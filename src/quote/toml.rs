//! TOML basic strings: the text between the `"` of `key = "..."`. Used when a preset
//! fills machine-specific values (paths, names) into its spec template.

/// Escape `text` for the inside of a TOML basic string.
pub fn basic_string_inner(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters (and DEL) are not allowed raw in TOML.
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(text: &str) -> String {
        let doc = format!("v = \"{}\"\n", basic_string_inner(text));
        let table: toml::Table = toml::from_str(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        table["v"].as_str().unwrap().to_string()
    }

    #[test]
    fn windows_paths_and_quotes_come_back() {
        for s in [
            r"C:\Users\Ann Lee\AppData\Local\hermes",
            r#"say "hi" \"#,
            "100% \u{e9}t\u{e9}\n\t\u{7f}\u{1}",
        ] {
            assert_eq!(round_trip(s), s);
        }
    }

    proptest! {
        #[test]
        fn any_string_round_trips(s in any::<String>()) {
            prop_assert_eq!(round_trip(&s), s);
        }
    }
}
