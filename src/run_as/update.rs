//! Who `respawn update NAME -- CMD` runs CMD as, on Windows (issue 25).
//!
//! The update command touches the program's files: `pip install -U` in the venv of
//! the user whose program (an AI agent) runs whatever a chat asks. That agent can
//! change those files (pip itself, a `.pth` in site-packages), so running the command
//! with administrator rights would hand them to it. The command runs with the rights
//! the program has: the user's filtered (medium-integrity) token when the caller is
//! that user, elevated; as the caller when the caller is not elevated; and it is
//! refused when the caller is another account (their rights, or an administrator's,
//! over files the agent controls). Pure: the calls live in `crate::os`.

use super::Account;

pub use super::Elevation;

/// What the update command runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateAs {
    /// The caller's own token, as `respawn update` runs.
    Caller,
    /// The caller's filtered token (the one linked to their elevated one): the rights
    /// the user's own unelevated processes have, no more.
    Filtered,
    /// Not run: why, and what to do instead.
    Refuse(String),
}

/// The decision. `program_user`: the account the service's program runs as (`None`:
/// LocalSystem, `run_as = "system"`, whose files install checked to be changeable by
/// administrators only, so an elevated update touches nothing the user can change).
pub fn update_as(
    service: &str,
    program_user: Option<&Account>,
    caller: &Account,
    elevation: Elevation,
) -> UpdateAs {
    let Some(user) = program_user else {
        return UpdateAs::Caller;
    };
    if user.sid != caller.sid {
        return UpdateAs::Refuse(format!(
            "{service}'s program runs as {}, and the update command would run as {}{}: with \
             rights over files that {}'s program (an agent that runs what it is asked) can change, \
             that program could take over {}'s account through them. Run the update as {} instead: \
             from their own, unelevated prompt, `respawn update {service} -- ...` (the service lets \
             its user stop and start it), or stop the service, update as {}, and start it again",
            user.name,
            caller.name,
            if elevation == Elevation::Full {
                ", elevated"
            } else {
                ""
            },
            user.name,
            caller.name,
            user.name,
            user.name,
        ));
    }
    match elevation {
        Elevation::Full => UpdateAs::Filtered,
        Elevation::Limited | Elevation::Default => UpdateAs::Caller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_command_runs_with_the_programs_rights_or_not_at_all() {
        let ann = Account::new("S-1-5-21-1-2-3-1001", "PC\\ann");
        let bob = Account::new("S-1-5-21-1-2-3-1002", "PC\\bob");
        // Same SID under another name (a renamed account): the same user.
        let ann_renamed = Account::new("S-1-5-21-1-2-3-1001", "PC\\ann2");
        use Elevation::*;
        let cases: Vec<(Option<&Account>, &Account, Elevation, &str)> = vec![
            // program runs as, caller, caller's elevation, expected
            (Some(&ann), &ann, Full, "filtered"),
            (Some(&ann), &ann_renamed, Full, "filtered"),
            (Some(&ann), &ann, Limited, "caller"),
            (Some(&ann), &ann, Default, "caller"),
            (Some(&ann), &bob, Full, "refuse"),
            (Some(&ann), &bob, Limited, "refuse"),
            (Some(&ann), &bob, Default, "refuse"),
            // LocalSystem's program: its files are admin-only (checked at install).
            (None, &bob, Full, "caller"),
            (None, &ann, Limited, "caller"),
        ];
        for (program, caller, elevation, want) in cases {
            let got = update_as("gw", program, caller, elevation);
            let got_word = match &got {
                UpdateAs::Caller => "caller",
                UpdateAs::Filtered => "filtered",
                UpdateAs::Refuse(_) => "refuse",
            };
            assert_eq!(
                got_word, want,
                "{program:?} {caller:?} {elevation:?}: {got:?}"
            );
            if let UpdateAs::Refuse(why) = got {
                assert!(why.contains("runs as PC\\ann"), "{why}");
                assert!(why.contains("would run as PC\\bob"), "{why}");
                assert!(why.contains("Run the update as PC\\ann"), "{why}");
                assert!(why.contains("`respawn update gw -- ...`"), "{why}");
                assert_eq!(why.contains(", elevated"), elevation == Full, "{why}");
            }
        }
    }

    #[test]
    fn elevation_types_from_windows() {
        assert_eq!(Elevation::from_raw(1), Some(Elevation::Default));
        assert_eq!(Elevation::from_raw(2), Some(Elevation::Full));
        assert_eq!(Elevation::from_raw(3), Some(Elevation::Limited));
        assert_eq!(Elevation::from_raw(0), None);
        assert_eq!(Elevation::from_raw(4), None);
    }
}
