//! The names a service has in each service manager, derived from one spec.
//!
//! By default every OS uses the spec's id (`name` or `name-profile`). A spec (or a
//! preset) may give a base name per OS in `[names]`; the profile is then appended the
//! way that OS's conventions expect.

use crate::spec::Spec;

/// Windows service name: `names.windows_service` or `name`, plus `-<profile>`.
pub fn windows_service(spec: &Spec) -> String {
    with_profile(spec, spec.names.windows_service.as_deref(), '-')
}

/// systemd unit name including `.service`: `names.systemd_unit` or `name`, plus `-<profile>`.
pub fn systemd_unit(spec: &Spec) -> String {
    let base = spec
        .names
        .systemd_unit
        .as_deref()
        .map(|u| u.trim_end_matches(".service"));
    format!("{}.service", with_profile(spec, base, '-'))
}

/// launchd label: `names.launchd_label` or `ai.respawn.<name>`, plus `.<profile>`.
pub fn launchd_label(spec: &Spec) -> String {
    let default = format!("ai.respawn.{}", spec.name);
    with_profile(
        spec,
        Some(spec.names.launchd_label.as_deref().unwrap_or(&default)),
        '.',
    )
}

fn with_profile(spec: &Spec, base: Option<&str>, sep: char) -> String {
    let base = base.unwrap_or(&spec.name);
    match &spec.profile {
        Some(p) => format!("{base}{sep}{p}"),
        None => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(extra: &str) -> Spec {
        Spec::parse(
            &format!("name = \"gw\"\ncommand = \"sh\"\n{extra}"),
            None,
            Path::new("/"),
        )
        .unwrap()
    }

    #[test]
    fn defaults_follow_the_name_and_profile() {
        let s = spec("");
        assert_eq!(windows_service(&s), "gw");
        assert_eq!(systemd_unit(&s), "gw.service");
        assert_eq!(launchd_label(&s), "ai.respawn.gw");
        let s = spec("profile = \"work\"\n");
        assert_eq!(windows_service(&s), "gw-work");
        assert_eq!(systemd_unit(&s), "gw-work.service");
        assert_eq!(launchd_label(&s), "ai.respawn.gw.work");
    }

    #[test]
    fn overrides_take_the_profile_too() {
        let s = spec(
            "profile = \"work\"\n[names]\nwindows_service = \"HermesGateway\"\nsystemd_unit = \"respawn-hermes.service\"\nlaunchd_label = \"ai.hermes.gateway\"\n",
        );
        assert_eq!(windows_service(&s), "HermesGateway-work");
        assert_eq!(systemd_unit(&s), "respawn-hermes-work.service");
        assert_eq!(launchd_label(&s), "ai.hermes.gateway.work");
    }
}
