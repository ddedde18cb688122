//! Shell completions and the man page, checked the way a user meets them: the bash
//! script sourced by a real bash and asked to complete, the man page rendered by man.

use crate::common::*;
use assert_cmd::Command;

/// The real `respawn` binary, with the harness's throwaway state dir.
fn respawn(h: &Harness) -> Command {
    Command::from_std(h.respawn())
}

/// stdout of a `respawn` command that must succeed with something to say.
fn stdout_of(h: &Harness, args: &[&str]) -> String {
    let out = respawn(h)
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    assert!(!stdout.trim().is_empty(), "respawn {args:?}: no output");
    stdout
}

/// What bash offers for the command line `words` (the last word is the one being
/// completed), by calling the completion function that `respawn completions bash`
/// registered, as bash's programmable completion does on <TAB>.
/// `None` when there is no bash to run.
#[cfg(unix)]
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Option<Vec<String>> {
    bash_complete_in(script, words, None)
}

/// [`bash_complete`] with respawn's state root set for the completion request.
#[cfg(unix)]
fn bash_complete_in(
    script: &std::path::Path,
    words: &[&str],
    state_root: Option<&std::path::Path>,
) -> Option<Vec<String>> {
    // $1: the completion script; the rest: COMP_WORDS.
    const DRIVER: &str = r#"
source "$1" || exit 90
shift
spec=$(complete -p respawn) || exit 91
fn=${spec##*-F }
fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
prev=""
if [ "$COMP_CWORD" -ge 1 ]; then prev=${COMP_WORDS[COMP_CWORD-1]}; fi
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "$prev"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let mut bash = std::process::Command::new("bash");
    if let Some(root) = state_root {
        bash.env("RESPAWN_STATE_DIR", root);
    }
    let out = match bash
        .args(["--norc", "--noprofile", "-c", DRIVER, "bash"])
        .arg(script)
        .args(words)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("running bash: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bash completing {words:?} exited {:?} (90: source failed, 91: no `complete` for respawn): {stderr}",
        out.status.code()
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(unix)]
#[test]
fn bash_completes_subcommands_and_never_offers_hidden_ones() {
    let h = Harness::new();
    let script = h.path("respawn.bash");
    std::fs::write(&script, stdout_of(&h, &["completions", "bash"])).unwrap();

    // `respawn ins<TAB>`
    let Some(offered) = bash_complete(&script, &["respawn", "ins"]) else {
        eprintln!("SKIP: no bash on PATH");
        return;
    };
    assert!(offered.iter().any(|w| w == "install"), "{offered:?}");
    assert!(offered.iter().all(|w| w.starts_with("ins")), "{offered:?}");

    // `respawn ser<TAB>`: service-host is what the Windows service manager starts.
    let offered = bash_complete(&script, &["respawn", "ser"]).unwrap();
    assert!(!offered.iter().any(|w| w == "service-host"), "{offered:?}");

    // `respawn <TAB>`: every visible command, and still no service-host.
    let offered = bash_complete(&script, &["respawn", ""]).unwrap();
    for want in ["run", "check", "install", "status", "completions", "man"] {
        assert!(offered.iter().any(|w| w == want), "{want}: {offered:?}");
    }
    assert!(!offered.iter().any(|w| w == "service-host"), "{offered:?}");

    // `respawn run --<TAB>`: --spec, not the hidden --managed-by.
    let offered = bash_complete(&script, &["respawn", "run", "--"]).unwrap();
    assert!(offered.iter().any(|w| w == "--spec"), "{offered:?}");
    assert!(!offered.iter().any(|w| w == "--managed-by"), "{offered:?}");
}

#[test]
fn every_listed_shell_gets_a_script_that_calls_respawn_back() {
    let h = Harness::new();
    // The binary's own path (as Windows spells it there: only its name is compared).
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_respawn"))
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&h, &["completions", shell]);
        // Dynamic: the script asks this binary (by its path) what to offer.
        assert!(script.contains(exe), "{shell}: {script}");
        assert!(script.contains("COMPLETE"), "{shell}: {script}");
        assert!(!script.contains("service-host"), "{shell}: {script}");
    }
}

/// `respawn status her<TAB>`, `--backend <TAB>`, `--preset <TAB>`, `completions <TAB>`:
/// values come from what exists, not from a frozen list.
#[cfg(unix)]
#[test]
fn bash_completes_service_names_backends_presets_and_shells() {
    let h = Harness::new();
    let script = h.path("respawn.bash");
    std::fs::write(&script, stdout_of(&h, &["completions", "bash"])).unwrap();
    for name in ["hermes-work", "echo"] {
        let spec = h.spec(
            &format!("{name}.toml"),
            &format!("name = \"{name}\"\ncommand = \"sleep\"\nargs = [\"1\"]\n"),
        );
        let out = respawn(&h)
            .args([
                "install",
                "--backend",
                "portable",
                "--spec",
                spec.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    // The completion request runs respawn with the test's state dir (RESPAWN_STATE_DIR).
    let root = h.state_root();
    let complete = |words: &[&str]| bash_complete_in(&script, words, Some(&root));
    let Some(offered) = complete(&["respawn", "status", "her"]) else {
        eprintln!("SKIP: no bash on PATH");
        return;
    };
    assert_eq!(offered, vec!["hermes-work"]);
    let offered = complete(&["respawn", "stop", ""]).unwrap();
    assert!(
        offered.contains(&"echo".to_string()) && offered.contains(&"hermes-work".to_string()),
        "{offered:?}"
    );
    let offered = complete(&["respawn", "install", "--backend", ""]).unwrap();
    assert!(
        offered.contains(&"systemd".to_string()) && offered.contains(&"portable".to_string()),
        "{offered:?}"
    );
    let offered = complete(&["respawn", "install", "--preset", ""]).unwrap();
    assert_eq!(offered, vec!["hermes"]);
    let offered = complete(&["respawn", "completions", "z"]).unwrap();
    assert_eq!(offered, vec!["zsh"]);
    // Issue 23: a spec is a *.toml file (examples/ also holds .rs files), by flag or
    // by position; --profile offers the profiles installed.
    let offered = complete(&["respawn", "check", "--spec", "examples/"]).unwrap();
    assert_eq!(offered, vec!["examples/echo.toml"]);
    let offered = complete(&["respawn", "install", "examples/"]).unwrap();
    assert_eq!(offered, vec!["examples/echo.toml"]);
    let offered = complete(&["respawn", "install", "--preset", "hermes", "--profile", ""]).unwrap();
    assert_eq!(offered, vec!["work"]);
}

#[test]
fn an_unknown_shell_is_bad_input_that_lists_the_valid_ones() {
    let h = Harness::new();
    let out = respawn(&h)
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcsh"), "{err}");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        assert!(err.contains(shell), "{shell} not listed: {err}");
    }
}

#[test]
fn man_page_is_roff_that_man_renders() {
    let h = Harness::new();
    let page = stdout_of(&h, &["man"]);
    assert!(
        page.starts_with(".TH") || page.starts_with(".ie"),
        "not a roff page: {page}"
    );
    assert!(page.contains(".TH respawn 1"), "{page}");
    assert!(!page.contains("service-host"), "{page}");
    #[cfg(unix)]
    render_with_man_db(&page);
}

/// `MANWIDTH=80 man -l -` (man-db's, with groff's warnings on): it must render the
/// page without a complaint. Skipped where man is not man-db (macOS, BSDs) or absent.
#[cfg(unix)]
fn render_with_man_db(page: &str) {
    let is_man_db = std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("man ")
        });
    if !is_man_db {
        eprintln!("SKIP: no man-db; checked the roff header only");
        return;
    }
    let out = Command::new("man")
        .args(["--warnings", "-l", "-"])
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env_remove("MANOPT")
        .write_stdin(page)
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("respawn install"), "{text}");
    assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
    let complaints: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("warning") || l.contains("error"))
        .collect();
    assert!(complaints.is_empty(), "man/groff complained: {err}");
}
