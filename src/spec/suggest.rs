//! "Did you mean": the closest of some known words to a mistyped one (service names,
//! spec fields). Pure.

/// The candidate closest to `word`, if one is close. Case does not count (`Web` is
/// `web`), nor does one slip of the keyboard: a letter too many, too few, wrong, or
/// two swapped (`wbe`); else Jaro-Winkler similarity above 0.8.
pub fn closest(word: &str, candidates: impl IntoIterator<Item = String>) -> Option<String> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| c != word)
        .map(|c| {
            let theirs = c.to_lowercase();
            let score = if theirs == lower {
                3.0
            } else if lower.chars().count() >= 3 && strsim::osa_distance(&lower, &theirs) <= 1 {
                2.0
            } else {
                strsim::jaro_winkler(&lower, &theirs)
            };
            (score, c)
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// serde's "unknown field `comand`, expected one of `name`, `command`, …" made short
/// when one field is close: "unknown field `comand`; did you mean `command`?". Any
/// other message comes back as it was.
pub fn unknown_field(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let known: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    match closest(field, known) {
        Some(near) => format!("unknown field `{field}`; did you mean `{near}`?"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_word_is_suggested_and_a_far_one_is_not() {
        let known = || ["hermes-work".to_string(), "echo".to_string()];
        assert_eq!(closest("hermes-wrok", known()), Some("hermes-work".into()));
        assert_eq!(closest("hermes", known()), Some("hermes-work".into()));
        assert_eq!(closest("ech", known()), Some("echo".into()));
        assert_eq!(closest("zzz", known()), None);
        let web = || ["web".to_string(), "worker".to_string()];
        assert_eq!(closest("wbe", web()), Some("web".into()));
        assert_eq!(closest("Web", web()), Some("web".into()));
        assert_eq!(closest("WEB", web()), Some("web".into()));
        assert_eq!(closest("web", web()), None, "itself is no suggestion");
    }

    #[test]
    fn an_unknown_field_gets_the_one_close_field() {
        let msg = "unknown field `comand`, expected one of `name`, `profile`, `command`, `args`";
        assert_eq!(
            unknown_field(msg),
            "unknown field `comand`; did you mean `command`?"
        );
        let far = "unknown field `zzzzzz`, expected one of `name`, `command`";
        assert_eq!(unknown_field(far), far);
        assert_eq!(unknown_field("invalid type"), "invalid type");
    }
}
