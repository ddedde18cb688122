//! What a spawn with the user's token needs decided (issue 22, items 5 and 7), pure:
//! the working dir it gets when the spec names none, where a bare program name (a
//! `[stop] command` or `[health] command` such as `curl` or `hermes`) is looked up,
//! when the host loads the user's profile, and how the child gets into its job.

use crate::run_as::session::Context;
use std::path::{Path, PathBuf};

/// A variable of an environment block (names are case-insensitive on Windows).
pub fn env_value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The working dir of a token spawn: the spec's, else the user's profile folder
/// (`USERPROFILE` of their environment block), never the host's own
/// (`C:\Windows\System32` for a service).
pub fn working_dir(given: Option<&Path>, env: &[(String, String)]) -> Option<PathBuf> {
    given.map(Path::to_path_buf).or_else(|| {
        env_value(env, "USERPROFILE")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    })
}

/// Whether `program` is a bare name to look up on PATH (as a shell would), rather than
/// a path (absolute, or with a folder in it) used as it is.
pub fn needs_search(program: &Path) -> bool {
    let s = program.as_os_str().to_string_lossy();
    !program.is_absolute() && !s.contains(['\\', '/', ':'])
}

/// Whether the host loads the user's profile for a child in `context`: only for a
/// service-for-user logon, which has none loaded. A user logged on has theirs loaded
/// by Windows; a reference of ours would hold it past their logoff (profile service
/// event 1530, slow roaming-profile unloads).
pub fn load_profile_for(context: Context) -> bool {
    context == Context::S4u
}

/// How a token spawn puts the child in its Job Object (issue 22 item 10), so that not
/// even its first instruction runs outside the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobPlacement {
    /// Created inside the job (PROC_THREAD_ATTRIBUTE_JOB_LIST, Windows 10 1607+).
    AtCreation,
    /// Created suspended, assigned to the job, then its thread resumed.
    SuspendAssignResume,
}

/// The placement to use: `attribute`, what UpdateProcThreadAttribute answered for the
/// job list (`Err(code)` where Windows predates it); `seen_in_job`, after a creation
/// with the list, whether the child was found in its job (`None` before). A child
/// created with the list but outside the job (an implementation that takes the
/// attribute and ignores it) is ended before it ran and created again the old way.
pub fn job_placement(attribute: Result<(), i32>, seen_in_job: Option<bool>) -> JobPlacement {
    match (attribute, seen_in_job) {
        (Ok(()), None | Some(true)) => JobPlacement::AtCreation,
        (Ok(()), Some(false)) | (Err(_), _) => JobPlacement::SuspendAssignResume,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_goes_into_its_job_at_creation_where_windows_can() {
        use JobPlacement::*;
        // ERROR_NOT_SUPPORTED (50) and ERROR_INVALID_PARAMETER (87): before 1607.
        for (attribute, seen, want) in [
            (Ok(()), None, AtCreation),
            (Ok(()), Some(true), AtCreation),
            (Ok(()), Some(false), SuspendAssignResume),
            (Err(50), None, SuspendAssignResume),
            (Err(87), None, SuspendAssignResume),
            (Err(87), Some(true), SuspendAssignResume),
        ] {
            assert_eq!(
                job_placement(attribute, seen),
                want,
                "{attribute:?} {seen:?}"
            );
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_working_dir_defaults_to_the_users_profile() {
        let block = env(&[("Path", "C:\\bin"), ("USERPROFILE", "C:\\Users\\Ann Lee")]);
        assert_eq!(
            working_dir(None, &block),
            Some(PathBuf::from("C:\\Users\\Ann Lee"))
        );
        assert_eq!(
            working_dir(Some(Path::new("D:\\work")), &block),
            Some(PathBuf::from("D:\\work"))
        );
        assert_eq!(working_dir(None, &env(&[("USERPROFILE", "")])), None);
        assert_eq!(working_dir(None, &[]), None);
        assert_eq!(env_value(&block, "PATH"), Some("C:\\bin"));
        assert_eq!(env_value(&block, "userprofile"), Some("C:\\Users\\Ann Lee"));
    }

    #[test]
    fn bare_names_are_searched_paths_are_not() {
        for bare in ["curl", "hermes", "curl.exe", "hermes.cmd"] {
            assert!(needs_search(Path::new(bare)), "{bare}");
        }
        for path in [
            "C:\\Windows\\curl.exe",
            "bin\\gw.exe",
            "./gw",
            "C:gw.exe",
            "\\\\server\\share\\gw.exe",
        ] {
            assert!(!needs_search(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn only_a_logged_off_child_loads_the_profile() {
        assert!(load_profile_for(Context::S4u));
        assert!(!load_profile_for(Context::Interactive(1)));
        assert!(!load_profile_for(Context::System));
    }
}
