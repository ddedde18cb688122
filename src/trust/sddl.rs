//! The admin-only files of a Windows service as SDDL, and who may write a file or
//! folder according to its security descriptor: the pure half of
//! [`crate::admin_files`], read by [`super`]'s trust decision.

use std::path::{Path, PathBuf};

// ---- admin-only files ----

/// A SID string we are willing to put into SDDL: `S-1-` then numbers. Anything else
/// (an SDDL fragment smuggled in a name) is refused.
pub fn is_sid_string(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("S-1-") else {
        return false;
    };
    !rest.is_empty()
        && rest.split('-').all(|part| {
            !part.is_empty() && part.len() <= 10 && part.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The protected DACL of the host's files: SYSTEM and Administrators full control,
/// the recorded user (if any) read and execute, inherited by everything created below.
/// `P` (protected) drops whatever the parent folder would have let others do.
pub fn admin_only_sddl(user_sid: Option<&str>) -> Result<String, String> {
    let mut sddl = String::from("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
    if let Some(sid) = user_sid {
        if !is_sid_string(sid) {
            return Err(format!("`{sid}` is not a SID (S-1-...)"));
        }
        sddl.push_str(&format!("(A;OICI;0x1200a9;;;{sid})"));
    }
    Ok(sddl)
}

/// The protected DACL of the machine's state root (`%ProgramData%\respawn`) itself:
/// SYSTEM and Administrators full control (inherited), every user may list it (so
/// `respawn list` finds the services) but not add, rename or delete anything in it.
/// Each service's folder below gets [`admin_only_sddl`].
pub const MACHINE_ROOT_SDDL: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x1200a9;;;BU)";

/// Where the host's own files live on Windows: the binaries under
/// `%ProgramFiles%\respawn\`, each service's spec and state under
/// `%ProgramData%\respawn\<id>\`. Only administrators can write either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminPaths {
    pub bin_dir: PathBuf,
    pub service_dir: PathBuf,
}

impl AdminPaths {
    /// `program_files` and `program_data` are the values of `%ProgramFiles%` and
    /// `%ProgramData%` (absent: the Windows defaults).
    pub fn new(
        program_files: Option<&str>,
        program_data: Option<&str>,
        service_id: &str,
    ) -> Result<AdminPaths, String> {
        crate::spec::check_name("service id", service_id)?;
        let bin_dir = respawn_dir(program_files, "ProgramFiles", r"C:\Program Files")?;
        let data = machine_state_root(program_data)?;
        Ok(AdminPaths {
            bin_dir,
            service_dir: PathBuf::from(join_windows(&data.to_string_lossy(), service_id)),
        })
    }

    /// The binaries under `%ProgramFiles%\respawn\`, and the service's files in
    /// `state_root\<id>\` (a state root given to install, else the machine's).
    pub fn in_state_root(
        program_files: Option<&str>,
        state_root: &Path,
        service_id: &str,
    ) -> Result<AdminPaths, String> {
        crate::spec::check_name("service id", service_id)?;
        Ok(AdminPaths {
            bin_dir: respawn_dir(program_files, "ProgramFiles", r"C:\Program Files")?,
            service_dir: state_root.join(service_id),
        })
    }

    pub fn exe(&self, name: &str) -> PathBuf {
        PathBuf::from(join_windows(&self.bin_dir.to_string_lossy(), name))
    }

    pub fn spec(&self) -> PathBuf {
        PathBuf::from(join_windows(
            &self.service_dir.to_string_lossy(),
            "spec.toml",
        ))
    }
}

/// The state root of Windows services, `%ProgramData%\respawn`: `program_data` is the
/// variable's value (absent or blank: the Windows default).
pub fn machine_state_root(program_data: Option<&str>) -> Result<PathBuf, String> {
    respawn_dir(program_data, "ProgramData", r"C:\ProgramData")
}

/// `<value of %var%>\respawn`, the value checked to be an absolute path.
fn respawn_dir(value: Option<&str>, var: &str, default: &str) -> Result<PathBuf, String> {
    let v = value.filter(|v| !v.trim().is_empty()).unwrap_or(default);
    if !is_absolute_windows(v) {
        return Err(format!(
            "%{var}% is `{v}`, not an absolute path; fix the variable or unset it"
        ));
    }
    Ok(PathBuf::from(join_windows(v, "respawn")))
}

fn is_absolute_windows(p: &str) -> bool {
    let b = p.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/'))
        || p.starts_with(r"\\")
}

fn join_windows(base: &str, name: &str) -> String {
    format!("{}\\{name}", base.trim_end_matches(['\\', '/']))
}

// ---- "can a non-admin write this?" from a security descriptor ----

/// Accounts whose write access is fine for what a SYSTEM host executes: SYSTEM,
/// Administrators, TrustedInstaller, and CREATOR OWNER (which only matters through
/// inheritance, and is checked on the real owner).
const TRUSTED_WRITERS: [&str; 4] = ["SY", "BA", "S-1-5-18", "S-1-5-32-544"];
pub const TRUSTED_INSTALLER: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";

fn trusted(sid: &str) -> bool {
    TRUSTED_WRITERS.contains(&sid) || sid == TRUSTED_INSTALLER || sid == "CO" || sid == "S-1-3-0"
}

/// What a path is to the file the host will read or execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The file itself: any write changes what runs.
    File,
    /// The folder holding it: adding a file there plants a DLL next to an exe, and
    /// deleting children replaces the file.
    Folder,
    /// A folder further up: only renaming or deleting entries, or rewriting its DACL
    /// or owner, can swap the path out (creating new folders in `C:\` is harmless).
    Ancestor,
}

const GENERIC_WRITE_ALL: u32 = 0x4000_0000 | 0x1000_0000;
/// DELETE, WRITE_DAC, WRITE_OWNER.
const REWRITE: u32 = 0x0001_0000 | 0x0004_0000 | 0x0008_0000;
/// Write data, append data, write EA, write attributes (files); add file and add
/// subfolder (folders) share the first two bits.
const WRITE_DATA: u32 = 0x0002 | 0x0004 | 0x0010 | 0x0100;
const DELETE_CHILD: u32 = 0x0040;

impl Role {
    fn mask(self) -> u32 {
        match self {
            Role::File => GENERIC_WRITE_ALL | REWRITE | WRITE_DATA,
            Role::Folder => GENERIC_WRITE_ALL | REWRITE | WRITE_DATA | DELETE_CHILD,
            Role::Ancestor => GENERIC_WRITE_ALL | REWRITE | DELETE_CHILD,
        }
    }
}

/// The SIDs (as written in the SDDL) that a security descriptor lets write the object,
/// other than SYSTEM/Administrators/TrustedInstaller: the owner (who can always rewrite
/// the DACL) when it is someone else, and every allow ACE with a write right that
/// applies to the object itself. Deny ACEs are ignored (an allow elsewhere in a group
/// we can't expand may still win), so the answer errs towards "writable".
/// A missing DACL (`D:NO_ACCESS_CONTROL` or none) means everyone.
pub fn untrusted_writers(sddl: &str, role: Role) -> Vec<String> {
    let mask = role.mask();
    let mut out = Vec::new();
    if let Some(owner) = sddl_part(sddl, 'O') {
        if !trusted(owner) {
            out.push(owner.to_string());
        }
    }
    let Some(dacl) = sddl_part(sddl, 'D') else {
        out.push("WD".into());
        return out;
    };
    if dacl.contains("NO_ACCESS_CONTROL") {
        out.push("WD".into());
        return out;
    }
    for ace in dacl.split('(').skip(1) {
        let fields: Vec<&str> = ace.trim_end_matches(')').split(';').collect();
        let [kind, flags, rights, _, _, sid, ..] = fields[..] else {
            continue;
        };
        // Flags are two-letter codes (OI, CI, NP, IO, ID): compare whole codes.
        let inherit_only = flags.as_bytes().chunks(2).any(|c| c == b"IO");
        if kind != "A" || inherit_only || trusted(sid) {
            continue;
        }
        if ace_rights(rights) & mask != 0 && !out.iter().any(|s| s == sid) {
            out.push(sid.to_string());
        }
    }
    out
}

/// The text of one part (`O:`, `G:`, `D:`, `S:`) of an SDDL string.
fn sddl_part(sddl: &str, which: char) -> Option<&str> {
    let tag = format!("{which}:");
    let start = sddl.find(&tag)? + 2;
    let rest = &sddl[start..];
    // The next part starts with a letter and ':' outside parentheses.
    let mut depth = 0;
    let bytes = rest.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b':' if depth == 0 && i > 0 && matches!(bytes[i - 1], b'O' | b'G' | b'D' | b'S') => {
                return Some(&rest[..i - 1]);
            }
            _ => {}
        }
    }
    Some(rest)
}

/// An ACE's rights field: hex (`0x1200a9`) or two-letter codes (`FA`, `FRFX`, `GW`...).
fn ace_rights(rights: &str) -> u32 {
    if let Some(hex) = rights
        .strip_prefix("0x")
        .or_else(|| rights.strip_prefix("0X"))
    {
        return u32::from_str_radix(hex, 16).unwrap_or(u32::MAX);
    }
    let codes: &[(&str, u32)] = &[
        ("GA", 0x1000_0000),
        ("GW", 0x4000_0000),
        ("GR", 0x8000_0000),
        ("GX", 0x2000_0000),
        ("FA", 0x001f_01ff),
        ("FW", 0x0012_0116),
        ("FR", 0x0012_0089),
        ("FX", 0x0012_00a0),
        ("SD", 0x0001_0000),
        ("WD", 0x0004_0000),
        ("WO", 0x0008_0000),
        ("RC", 0x0002_0000),
        ("CC", 0x0001),
        ("DC", 0x0002),
        ("LC", 0x0004),
        ("SW", 0x0008),
        ("RP", 0x0010),
        ("WP", 0x0020),
        ("DT", 0x0040),
        ("LO", 0x0080),
        ("CR", 0x0100),
        ("KA", 0x000f_003f),
    ];
    let mut mask = 0;
    let mut i = 0;
    while i + 2 <= rights.len() {
        match codes.iter().find(|(c, _)| *c == &rights[i..i + 2]) {
            Some((_, bits)) => mask |= bits,
            // Unknown code: assume the worst.
            None => return u32::MAX,
        }
        i += 2;
    }
    mask
}

/// The file and every folder above it, each with its role: replacing any of them (or
/// renaming a folder aside) changes what runs.
pub fn paths_to_check(file: &Path) -> Vec<(PathBuf, Role)> {
    file.ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .enumerate()
        .map(|(i, p)| {
            let role = match i {
                0 => Role::File,
                1 => Role::Folder,
                _ => Role::Ancestor,
            };
            (p.to_path_buf(), role)
        })
        .collect()
}
