//! Specs written for the user: `respawn install --name NAME -- CMD ARGS…` (the quick
//! form, no TOML to write) and `respawn spec [--template web|worker] [--command …]`.
//!
//! Pure: the words of a command line in, spec text out. Every string goes through
//! [`crate::quote::toml::basic_string_inner`]; the result always parses.

use crate::quote::toml::basic_string_inner as q;
use std::path::Path;

/// A spec template's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// A long-running program with no port to probe (a bot, a queue worker).
    Worker,
    /// A server: ready (and healthy) when its HTTP endpoint answers 2xx.
    Web,
}

/// What to put in a template.
#[derive(Clone, Debug)]
pub struct Fill<'a> {
    pub template: Template,
    pub name: &'a str,
    /// The program (absolute, or a bare name looked up on PATH at each start).
    pub program: &'a str,
    pub args: &'a [String],
    pub working_dir: Option<&'a Path>,
    /// Who wrote it, for the header comment (`respawn install --name web -- …`).
    pub made_by: &'a str,
    /// Written for an install (so `respawn restart` applies an edit), or to be saved.
    pub installed: bool,
}

/// The placeholder program of a template shown without `--command`.
pub const PLACEHOLDER_PROGRAM: &str = "/path/to/your/program";

/// The spec text. `[logs] timestamps` is on, as for every new spec.
pub fn render(fill: &Fill) -> String {
    let mut out = String::new();
    out.push_str(&format!("# Written by {}.\n", fill.made_by));
    if fill.installed {
        out.push_str(&format!(
            "# Edit it, then `respawn restart {}` applies it; `respawn help-spec` lists every field.\n",
            fill.name
        ));
    } else {
        out.push_str("# `respawn help-spec` lists every field.\n");
    }
    out.push_str(&format!("name = \"{}\"\n", q(fill.name)));
    out.push_str(&format!("command = \"{}\"\n", q(fill.program)));
    let args: Vec<String> = fill.args.iter().map(|a| format!("\"{}\"", q(a))).collect();
    out.push_str(&format!("args = [{}]\n", args.join(", ")));
    if let Some(dir) = fill.working_dir {
        out.push_str(&format!(
            "working_dir = \"{}\"\n",
            q(&dir.to_string_lossy())
        ));
    }
    out.push_str(
        "# env = { PORT = \"8000\" }\n# env_file = \".env\"   # secrets, KEY=VALUE lines\n",
    );
    out.push_str(
        "\n[restart]\nmode = \"always\"          # or \"on-failure\"\n\
         # backoff = [\"1s\", \"2s\", \"4s\", \"9s\", \"16s\", \"25s\", \"36s\", \"49s\", \"64s\"]  # the default\n",
    );
    out.push_str("\n[stop]\nsignal = \"SIGTERM\"\ntimeout = \"10s\"\n");
    out.push_str(
        "\n[logs]\ntimestamps = true        # each line starts with when it was written\n",
    );
    match fill.template {
        Template::Worker => out.push_str(
            "\n# [health]                # a probe makes `start` wait until it passes:\n\
             # tcp = \"127.0.0.1:8000\"   # or http = \"http://127.0.0.1:8000/health\"\n",
        ),
        Template::Web => out.push_str(
            "\n[health]\n# Ready (and healthy) when this answers 2xx; fix the port and path.\n\
             http = \"http://127.0.0.1:8000/\"\n",
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    #[test]
    fn every_template_parses_and_keeps_the_words() {
        let args = vec![
            "-m".to_string(),
            "http.server".into(),
            "a \"quoted\" \\ word\n".into(),
        ];
        for template in [Template::Worker, Template::Web] {
            let text = render(&Fill {
                template,
                name: "web",
                program: r"C:\Program Files\py\python.exe",
                args: &args,
                working_dir: Some(Path::new("/srv/my site")),
                made_by: "a test",
                installed: template == Template::Web,
            });
            let spec = Spec::parse(&text, None, Path::new("/elsewhere"))
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(spec.name, "web");
            assert_eq!(spec.args, args);
            assert_eq!(spec.working_dir.as_deref(), Some(Path::new("/srv/my site")));
            assert!(spec.logs.timestamps, "{text}");
            assert_eq!(
                spec.health.probe.is_some(),
                template == Template::Web,
                "{text}"
            );
        }
    }
}
