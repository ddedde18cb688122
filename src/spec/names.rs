//! The grammars of the per-OS names in `[names]` (issue 26 item 4). Each value ends up
//! in a file name (a unit file in /etc/systemd/system, a plist in LaunchAgents) or a
//! registry key, so nothing but a plain name may pass: no separator, no `..`, no
//! control character, nothing empty, and short enough for its service manager with
//! the profile appended.

use super::NameOverrides;

/// systemd's limit on a unit name (UNIT_NAME_MAX, 256 with its NUL).
const SYSTEMD_UNIT_MAX: usize = 255;
/// A file name's limit on the file systems launchd reads (`<label>.plist`).
const LAUNCHD_FILE_MAX: usize = 255;
/// The SCM's limit on a service name.
const WINDOWS_SERVICE_MAX: usize = 256;

/// Check every `[names]` value; `profile` is appended by `crate::naming`, so the
/// length is checked with it. The message names the field and the allowed form.
pub fn validate(names: &NameOverrides, profile: Option<&str>) -> Result<(), String> {
    let extra = profile.map_or(0, |p| p.len() + 1);
    if let Some(unit) = &names.systemd_unit {
        let base = unit.strip_suffix(".service").unwrap_or(unit);
        check(
            "names.systemd_unit",
            unit,
            base,
            &[':', '-', '_', '.'],
            SYSTEMD_UNIT_MAX - ".service".len() - extra,
            "a systemd unit name: ASCII letters, digits, ':', '-', '_' or '.', starting with a letter or digit, with or without \".service\" (e.g. \"my-gateway\")",
        )?;
    }
    if let Some(label) = &names.launchd_label {
        check(
            "names.launchd_label",
            label,
            label,
            &['-', '_', '.'],
            LAUNCHD_FILE_MAX - ".plist".len() - extra,
            "a launchd label: reverse-DNS of ASCII letters, digits, '-', '_' and '.', starting with a letter or digit (e.g. \"com.example.gateway\")",
        )?;
    }
    if let Some(service) = &names.windows_service {
        check(
            "names.windows_service",
            service,
            service,
            &['-', '_', '.'],
            WINDOWS_SERVICE_MAX - extra,
            "a Windows service name: ASCII letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. \"MyGateway\")",
        )?;
    }
    Ok(())
}

/// `base` (the value without a suffix the OS adds anyway) must be 1 to `max` of the
/// ASCII alphanumerics and `punct`, start with an alphanumeric, hold no `..`, and not
/// end with `.` (Windows drops a trailing dot from file names).
fn check(
    field: &str,
    value: &str,
    base: &str,
    punct: &[char],
    max: usize,
    form: &str,
) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || punct.contains(&c);
    let fits = !base.is_empty()
        && base.len() <= max
        && base.starts_with(|c: char| c.is_ascii_alphanumeric())
        && base.chars().all(ok_char)
        && !base.contains("..")
        && !base.ends_with('.');
    if fits {
        return Ok(());
    }
    Err(format!(
        "{field}: {value:?} can't be used; write {form}, at most {max} characters"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(unit: Option<&str>, label: Option<&str>, service: Option<&str>) -> NameOverrides {
        NameOverrides {
            systemd_unit: unit.map(str::to_owned),
            launchd_label: label.map(str::to_owned),
            windows_service: service.map(str::to_owned),
        }
    }

    #[test]
    fn every_name_grammar_in_a_table() {
        let long = "a".repeat(300);
        // (unit, label, service, profile, refused field or None)
        type Name<'a> = Option<&'a str>;
        let cases: &[(Name, Name, Name, Name, Name)] = &[
            (Some("gw"), Some("com.example.gw"), Some("Gw_1"), None, None),
            (
                Some("respawn-hermes-gateway.service"),
                None,
                None,
                Some("work"),
                None,
            ),
            (Some("a:b"), None, None, None, None),
            (
                Some("../../../etc/evil"),
                None,
                None,
                None,
                Some("names.systemd_unit"),
            ),
            (Some("a/b"), None, None, None, Some("names.systemd_unit")),
            (Some("a\nb"), None, None, None, Some("names.systemd_unit")),
            (Some(""), None, None, None, Some("names.systemd_unit")),
            (
                Some(".service"),
                None,
                None,
                None,
                Some("names.systemd_unit"),
            ),
            (Some("gw@1"), None, None, None, Some("names.systemd_unit")),
            (
                Some("a\\x2fb"),
                None,
                None,
                None,
                Some("names.systemd_unit"),
            ),
            (Some("-gw"), None, None, None, Some("names.systemd_unit")),
            (Some("a b"), None, None, None, Some("names.systemd_unit")),
            (Some(&long[..247]), None, None, None, None),
            (
                Some(&long[..247]),
                None,
                None,
                Some("p"),
                Some("names.systemd_unit"),
            ),
            (None, Some("../x"), None, None, Some("names.launchd_label")),
            (None, Some("ai..x"), None, None, Some("names.launchd_label")),
            (None, Some("ai.x."), None, None, Some("names.launchd_label")),
            (None, Some("ai:x"), None, None, Some("names.launchd_label")),
            (None, Some(""), None, None, Some("names.launchd_label")),
            (None, Some("ü.x"), None, None, Some("names.launchd_label")),
            (None, Some(&long[..249]), None, None, None),
            (
                None,
                Some(&long[..250]),
                None,
                None,
                Some("names.launchd_label"),
            ),
            (
                None,
                None,
                Some("a\\b"),
                None,
                Some("names.windows_service"),
            ),
            (None, None, Some("a/b"), None, Some("names.windows_service")),
            (
                None,
                None,
                Some("My Service"),
                None,
                Some("names.windows_service"),
            ),
            (None, None, Some("x\0"), None, Some("names.windows_service")),
            (None, None, Some(""), None, Some("names.windows_service")),
            (None, None, Some(&long[..256]), None, None),
            (
                None,
                None,
                Some(&long[..257]),
                None,
                Some("names.windows_service"),
            ),
        ];
        for (unit, label, service, profile, refused) in cases {
            let got = validate(&names(*unit, *label, *service), *profile);
            match refused {
                None => assert!(got.is_ok(), "{unit:?} {label:?} {service:?}: {got:?}"),
                Some(field) => {
                    let msg = got.expect_err(&format!("{unit:?} {label:?} {service:?}"));
                    assert!(msg.starts_with(field), "{msg}");
                    assert!(msg.contains("write a") && msg.contains("e.g."), "{msg}");
                }
            }
        }
    }
}
