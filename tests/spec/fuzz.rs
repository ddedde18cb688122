//! No spec input may panic: arbitrary text and arbitrary TOML built from the spec's own
//! field names go through `Spec::parse`, and random specs through `respawn check`
//! (exit 0 or 2 with a message, never 101). Bounded durations are refused at parse time.

use crate::common::*;
use proptest::prelude::*;
use respawn::spec::Spec;
use std::path::Path;

fn parse(text: &str) -> Result<Spec, respawn::spec::SpecError> {
    Spec::parse(text, Some(Path::new("s.toml")), Path::new("/base"))
}

/// A TOML value of any shape: what a careless or hostile spec could hold.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        ".{0,12}".prop_map(|s| format!("{s:?}").replace("\\u{", "\\u{0")),
        (
            0u64..u64::MAX,
            prop::sample::select(vec![
                "ns", "ms", "s", "m", "h", "d", "w", "M", "y", "years", "KB", "MB", "GB", "",
            ])
        )
            .prop_map(|(n, unit)| format!("\"{n}{unit}\"")),
        Just("\"18446744073709551615s\"".to_string()),
        Just("\"10000years\"".to_string()),
        Just("\"SIGKILL\"".to_string()),
        Just("\"on-failure\"".to_string()),
        Just("\"kill\"".to_string()),
        Just("\"file\"".to_string()),
        Just("\"command\"".to_string()),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(", ")))
    })
}

const TOP: &[&str] = &[
    "name",
    "profile",
    "description",
    "command",
    "args",
    "working_dir",
    "zzz",
];
const TABLES: &[(&str, &[&str])] = &[
    (
        "restart",
        &[
            "mode",
            "backoff",
            "reset_after",
            "max_restarts",
            "restart_window",
            "success_exit_codes",
            "prevent_restart_exit_codes",
            "force_restart_exit_codes",
        ],
    ),
    (
        "stop",
        &["method", "signal", "timeout", "command", "file", "contents"],
    ),
    ("logs", &["dir", "max_size", "keep"]),
    ("env", &["A", "PATH", "B=C", ""]),
    (
        "names",
        &["windows_service", "systemd_unit", "launchd_label"],
    ),
];

/// A spec-shaped document: a valid name and command (most of the time) and random
/// values under the real field names, so the deep validation paths get exercised.
fn spec_text() -> impl Strategy<Value = String> {
    let top = prop::collection::vec((prop::sample::select(TOP), value()), 0..3);
    let tables = prop::collection::vec(
        (
            0..TABLES.len(),
            prop::collection::vec((0usize..8, value()), 0..4),
        ),
        0..4,
    );
    (any::<bool>(), top, tables).prop_map(|(valid_head, top, tables)| {
        let mut text = String::new();
        if valid_head {
            text.push_str("name = \"fz\"\ncommand = \"sh\"\n");
        }
        for (k, v) in top {
            text.push_str(&format!("{k} = {v}\n"));
        }
        for (t, fields) in tables {
            let (table, keys) = TABLES[t];
            text.push_str(&format!("[{table}]\n"));
            for (i, v) in fields {
                text.push_str(&format!("{:?} = {v}\n", keys[i % keys.len()]));
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_parses_or_errs_without_panic(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn any_spec_shaped_toml_parses_or_errs_without_panic(text in spec_text()) {
        if let Err(e) = parse(&text) {
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn any_backoff_is_bounded_or_refused(n in any::<u64>(), unit in prop::sample::select(vec!["ms", "s", "m", "h", "d", "y"])) {
        let text = format!("name = \"b\"\ncommand = \"sh\"\n[restart]\nbackoff = [\"{n}{unit}\"]\n");
        match parse(&text) {
            Ok(spec) => prop_assert!(spec.restart.backoff[0] <= respawn::spec::MAX_BACKOFF),
            Err(e) => prop_assert!(e.message.contains("backoff") || e.message.contains("duration"), "{}", e.message),
        }
    }
}

#[test]
fn huge_durations_are_refused_with_the_bound() {
    for (text, needle) in [
        (
            "[restart]\nbackoff = [\"10000years\"]\n",
            "restart.backoff: 10000years",
        ),
        ("[restart]\nbackoff = [\"1s\", \"2h\"]\n", "at most"),
        ("[stop]\ntimeout = \"584942417355y\"\n", "not a duration"),
        (
            "[stop]\ntimeout = \"25h\"\n",
            "stop.timeout: 1day 1h is too long",
        ),
        ("[restart]\nreset_after = \"8d\"\n", "restart.reset_after"),
        (
            "[restart]\nrestart_window = \"100y\"\n",
            "restart.restart_window",
        ),
        ("[logs]\nkeep = 4000000000\n", "logs.keep"),
    ] {
        let err = parse(&format!("name = \"a\"\ncommand = \"sh\"\n{text}")).unwrap_err();
        let needle = needle.replace("at most", "the most it can be is 1h");
        assert!(err.message.contains(&needle), "{text}: {}", err.message);
    }
    // The bounds themselves are accepted.
    let spec = parse("name = \"a\"\ncommand = \"sh\"\n[restart]\nbackoff = [\"1h\"]\nreset_after = \"7d\"\n[stop]\ntimeout = \"24h\"\n").unwrap();
    assert_eq!(spec.stop.timeout, respawn::spec::MAX_STOP_TIMEOUT);
}

/// `respawn check` on random specs: a verdict (0) or bad input (2) with a message,
/// never a panic (101). Few cases: each one runs the real binary.
#[test]
fn check_never_panics_on_random_specs() {
    use proptest::test_runner::{Config, TestRunner};
    let h = Harness::new();
    // Under Wine every process start is slow: fewer cases there.
    let cases = if cfg!(windows) { 8 } else { 48 };
    let mut runner = TestRunner::new(Config::with_cases(cases));
    runner
        .run(&spec_text(), |text| {
            let spec = h.spec("s.toml", &text);
            let out = h.cmd(&["check", "--spec", spec.to_str().unwrap()]);
            let code = out.status.code();
            let err = String::from_utf8_lossy(&out.stderr);
            prop_assert!(
                code == Some(0) || (code == Some(2) && !err.trim().is_empty()),
                "{text}\n→ {code:?}: {err}"
            );
            Ok(())
        })
        .unwrap();
    // And the two inputs of the issue, through the binary.
    for text in [
        "name = \"a\"\ncommand = \"sh\"\n[restart]\nbackoff = [\"10000years\"]\n",
        "name = \"a\"\ncommand = \"sh\"\n[stop]\ntimeout = \"18446744073709551615s\"\n",
    ] {
        let spec = h.spec("s.toml", text);
        let out = h.cmd(&["check", "--spec", spec.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{text}");
    }
}
