//! File security for the host's own files (issue 15): a protected DACL written from
//! SDDL, read back as SDDL, and atomic replacement of a file that may be a running exe.
//! Which DACL, and whether a read-back one is safe, is decided in `crate::run_as`.
//!
//! Under Wine (docs/wine.md) the calls succeed but a file's DACL is not stored: Wine
//! maps it to Unix mode bits and synthesizes one on read.

use super::check;
use std::io;
use std::path::{Path, PathBuf};
use windows_sys::Win32::Foundation::{LocalFree, ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
    SetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    GetSecurityDescriptorDacl, GetSecurityDescriptorOwner, ACL, DACL_SECURITY_INFORMATION,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
};
use windows_sys::Win32::Storage::FileSystem::{
    MoveFileExW, MOVEFILE_DELAY_UNTIL_REBOOT, MOVEFILE_REPLACE_EXISTING, MOVEFILE_WRITE_THROUGH,
};

fn wide_path(p: &Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    p.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

pub(super) fn win32(code: u32, what: &str, path: &Path) -> io::Result<()> {
    if code == 0 {
        return Ok(());
    }
    let e = io::Error::from_raw_os_error(code as i32);
    Err(io::Error::new(
        e.kind(),
        format!("{what} {}: {e}", path.display()),
    ))
}

/// A security descriptor made from SDDL (LocalAlloc'ed by Windows), freed on drop:
/// the one conversion every "set these permissions" call starts from.
pub(super) struct Descriptor(PSECURITY_DESCRIPTOR);

impl Descriptor {
    pub(super) fn from_sddl(sddl: &str) -> io::Result<Descriptor> {
        let wsddl: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a NUL-terminated string; the descriptor the call allocates is owned
        // by the returned value and freed in its drop.
        check(unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wsddl.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        })
        .map_err(|e| io::Error::new(e.kind(), format!("bad SDDL {sddl:?}: {e}")))?;
        Ok(Descriptor(sd))
    }

    pub(super) fn raw(&self) -> PSECURITY_DESCRIPTOR {
        self.0
    }

    /// Its owner and DACL, pointers into it: valid while it lives.
    pub(super) fn owner_and_dacl(&self) -> io::Result<(PSID, *mut ACL)> {
        let (mut present, mut defaulted) = (0, 0);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        let mut owner: PSID = std::ptr::null_mut();
        // SAFETY: a valid descriptor owned by self; out pointers to locals.
        unsafe {
            check(GetSecurityDescriptorDacl(
                self.0,
                &mut present,
                &mut dacl,
                &mut defaulted,
            ))?;
            check(GetSecurityDescriptorOwner(
                self.0,
                &mut owner,
                &mut defaulted,
            ))?;
        }
        Ok((owner, dacl))
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.0) };
    }
}

/// Replace the DACL of `path` with the one in `sddl` (a `D:` string), protected from
/// inheritance so the parent folder's grants no longer apply, and make Administrators
/// its owner (unless `sddl` names one).
pub fn set_protected_dacl(path: &Path, sddl: &str) -> io::Result<()> {
    // Administrators own it too: an owner may rewrite the DACL, so a folder a user made
    // before the first install must not stay theirs.
    let with_owner = if sddl.starts_with("O:") {
        sddl.to_string()
    } else {
        format!("O:BA{sddl}")
    };
    let sd = Descriptor::from_sddl(&with_owner)?;
    let (owner, dacl) = sd.owner_and_dacl()?;
    let wpath = wide_path(path);
    // SAFETY: the owner and DACL point into `sd`, alive for the call.
    let code = unsafe {
        SetNamedSecurityInfoW(
            wpath.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION
                | DACL_SECURITY_INFORMATION
                | PROTECTED_DACL_SECURITY_INFORMATION,
            owner,
            std::ptr::null_mut(),
            dacl,
            std::ptr::null(),
        )
    };
    win32(code, "cannot set the permissions of", path)
}

/// The parts `info` names of the security descriptor `sd`, as SDDL text. The one
/// conversion every "read these permissions" call ends with.
///
/// # Safety
/// `sd` must point to a valid security descriptor for the call.
pub(super) unsafe fn sddl_of(sd: PSECURITY_DESCRIPTOR, info: u32) -> io::Result<String> {
    let mut text = std::ptr::null_mut();
    check(ConvertSecurityDescriptorToStringSecurityDescriptorW(
        sd,
        SDDL_REVISION_1,
        info,
        &mut text,
        std::ptr::null_mut(),
    ))?;
    let len = (0..).take_while(|&i| *text.add(i) != 0).count();
    let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
    LocalFree(text.cast());
    Ok(s)
}

/// The owner and DACL of `path` as SDDL (`O:...D:...`).
pub fn read_security(path: &Path) -> io::Result<String> {
    let wpath = wide_path(path);
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    // SAFETY: the descriptor and the string are LocalAlloc'ed by the calls and freed.
    unsafe {
        win32(
            GetNamedSecurityInfoW(
                wpath.as_ptr(),
                SE_FILE_OBJECT,
                info,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut sd,
            ),
            "cannot read the permissions of",
            path,
        )?;
        let sddl = sddl_of(sd, info);
        LocalFree(sd);
        sddl
    }
}

fn move_file(from: &Path, to: Option<&Path>, flags: u32) -> io::Result<()> {
    let wfrom = wide_path(from);
    let wto = to.map(wide_path);
    // SAFETY: NUL-terminated paths (or null for "delete at reboot").
    check(unsafe {
        MoveFileExW(
            wfrom.as_ptr(),
            wto.as_ref().map_or(std::ptr::null(), |w| w.as_ptr()),
            flags,
        )
    })
}

/// Put a copy of `src` at `dst` so that `dst` is always either the old or the new
/// file, never half-written: copy next to it, then rename over it. Windows refuses to
/// overwrite a running exe but lets it be renamed, so a busy `dst` is moved aside
/// (`<name>.old-<pid>`, removed now if possible, else at the next reboot) first.
pub fn replace_file(src: &Path, dst: &Path) -> io::Result<()> {
    let tmp = sibling(dst, &format!("new-{}", std::process::id()));
    std::fs::copy(src, &tmp).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot copy {} to {}: {e}", src.display(), tmp.display()),
        )
    })?;
    let flags = MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH;
    let result = match move_file(&tmp, Some(dst), flags) {
        Err(e)
            if matches!(
                e.raw_os_error().map(|c| c as u32),
                Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION)
            ) =>
        {
            let aside = sibling(dst, &format!("old-{}", std::process::id()));
            move_file(dst, Some(&aside), MOVEFILE_REPLACE_EXISTING)
                .and_then(|()| move_file(&tmp, Some(dst), flags))
                .map(|()| {
                    if std::fs::remove_file(&aside).is_err() {
                        // Still running: gone at the next reboot (needs admin, as install is).
                        let _ = move_file(&aside, None, MOVEFILE_DELAY_UNTIL_REBOOT);
                    }
                })
        }
        other => other,
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("cannot replace {}: {e}", dst.display())))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}
