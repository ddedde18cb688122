//! The facts behind "may SYSTEM trust this path" (issue 25, decided in `crate::trust`):
//! each path's owner, DACL and reparse attribute read through a handle opened with
//! `FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS`, so a junction is seen
//! as itself and never followed; the Known Folders that name `%ProgramData%` and
//! `%ProgramFiles%` (from HKLM, never from the caller's environment); folders created
//! with their security descriptor in the same call; and a junction made with
//! `FSCTL_SET_REPARSE_POINT` (Wine 8's `mklink` makes none) for the tests.

use super::{check, running_under_wine};
use crate::trust::{judge, Facts, Finding};
use std::io;
use std::path::{Path, PathBuf};
use windows_sys::Win32::Foundation::{
    CloseHandle, LocalFree, ERROR_ALREADY_EXISTS, ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND,
    GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
    SECURITY_ATTRIBUTES,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateDirectoryW, CreateFileW, GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
    FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING, READ_CONTROL,
};
use windows_sys::Win32::System::Com::CoTaskMemFree;
use windows_sys::Win32::System::IO::DeviceIoControl;
use windows_sys::Win32::UI::Shell::{
    FOLDERID_ProgramData, FOLDERID_ProgramFiles, SHGetKnownFolderPath, KF_FLAG_DEFAULT,
};

fn wide(p: &Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    p.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

struct Handle(HANDLE);
impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a handle we opened and own.
        unsafe { CloseHandle(self.0) };
    }
}

/// Open `path` itself (a junction as the junction), with `access`.
fn open_no_follow(path: &Path, access: u32) -> io::Result<Handle> {
    let w = wide(path);
    // SAFETY: NUL-terminated path; the handle is owned by the returned guard.
    let h = unsafe {
        CreateFileW(
            w.as_ptr(),
            access,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            std::ptr::null(),
            OPEN_EXISTING,
            FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS,
            std::ptr::null_mut(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    Ok(Handle(h))
}

/// Owner, DACL and reparse attribute of `path`, read without following it.
pub fn path_facts(path: &Path) -> Facts {
    let h = match open_no_follow(path, READ_CONTROL) {
        Ok(h) => h,
        Err(e)
            if matches!(
                e.raw_os_error().map(|c| c as u32),
                Some(ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND)
            ) =>
        {
            return Facts::Missing
        }
        Err(e) => return Facts::Unreadable(e.to_string()),
    };
    // SAFETY: a zeroed plain-data struct filled by the call.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: a valid handle and a struct of the right type.
    if let Err(e) = check(unsafe { GetFileInformationByHandle(h.0, &mut info) }) {
        return Facts::Unreadable(e.to_string());
    }
    let reparse = info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT != 0;
    match handle_sddl(&h) {
        Ok(sddl) => Facts::Found { sddl, reparse },
        Err(e) => Facts::Unreadable(e.to_string()),
    }
}

fn handle_sddl(h: &Handle) -> io::Result<String> {
    let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the descriptor and the string are LocalAlloc'ed by the calls and freed.
    unsafe {
        let code = GetSecurityInfo(
            h.0,
            SE_FILE_OBJECT,
            info,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut sd,
        );
        if code != 0 {
            return Err(io::Error::from_raw_os_error(code as i32));
        }
        let sddl = super::acl::sddl_of(sd, info);
        LocalFree(sd);
        sddl
    }
}

/// Every path on the way to `path` (itself, its folder, every folder above) that
/// SYSTEM should not trust: see [`crate::trust::judge`].
pub fn untrusted_on_the_way(path: &Path, leaf_is_folder: bool) -> Vec<Finding> {
    let facts: Vec<_> = crate::trust::chain(path, leaf_is_folder)
        .into_iter()
        .map(|(p, role)| {
            let f = path_facts(&p);
            (p, role, f)
        })
        .collect();
    judge(&facts)
}

/// Whether a trust refusal is one here: everywhere but under Wine (which keeps no
/// ACLs, so every path fails), where `RESPAWN_WINE_ENFORCE_TRUST=1` turns it on for a
/// test that shows the refusals. The variable means nothing on Windows.
pub fn trust_is_enforced() -> bool {
    !running_under_wine()
        || std::env::var_os("RESPAWN_WINE_ENFORCE_TRUST").is_some_and(|v| v == "1")
}

/// A folder Windows names through the Known Folders API (read from HKLM by the shell,
/// not from anyone's environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownFolder {
    ProgramData,
    ProgramFiles,
}

/// The path of a known folder. Under Wine only (a test bed, one user), the test
/// harness may point it elsewhere with `RESPAWN_WINE_PROGRAMDATA` /
/// `RESPAWN_WINE_PROGRAMFILES`, so tests never touch the prefix's real folders; on
/// Windows those variables are never read.
pub fn known_folder(which: KnownFolder) -> io::Result<PathBuf> {
    if running_under_wine() {
        let var = match which {
            KnownFolder::ProgramData => "RESPAWN_WINE_PROGRAMDATA",
            KnownFolder::ProgramFiles => "RESPAWN_WINE_PROGRAMFILES",
        };
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(v));
        }
    }
    shell_known_folder(which)
}

/// [`known_folder`] as the shell says it, with no test override.
pub fn shell_known_folder(which: KnownFolder) -> io::Result<PathBuf> {
    let id = match which {
        KnownFolder::ProgramData => &FOLDERID_ProgramData,
        KnownFolder::ProgramFiles => &FOLDERID_ProgramFiles,
    };
    let mut out: windows_sys::core::PWSTR = std::ptr::null_mut();
    // SAFETY: a known-folder id; the string is CoTaskMemAlloc'ed by the call (also on
    // failure, when it may be non-null) and freed here.
    unsafe {
        let hr = SHGetKnownFolderPath(id, KF_FLAG_DEFAULT as _, std::ptr::null_mut(), &mut out);
        let result = if hr < 0 || out.is_null() {
            Err(io::Error::other(format!(
                "SHGetKnownFolderPath failed (HRESULT {hr:#x})"
            )))
        } else {
            let len = (0..).take_while(|&i| *out.add(i) != 0).count();
            Ok(PathBuf::from(String::from_utf16_lossy(
                std::slice::from_raw_parts(out, len),
            )))
        };
        CoTaskMemFree(out.cast());
        result
    }
}

/// Create the folder `path` with the security descriptor `sddl` in one call (nobody
/// can open it between its creation and its protection). `Ok(false)` when it exists.
pub fn create_dir_with_sddl(path: &Path, sddl: &str) -> io::Result<bool> {
    let wsddl: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
    let wpath = wide(path);
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the descriptor is LocalAlloc'ed by the conversion and freed after use.
    unsafe {
        check(ConvertStringSecurityDescriptorToSecurityDescriptorW(
            wsddl.as_ptr(),
            SDDL_REVISION_1,
            &mut sd,
            std::ptr::null_mut(),
        ))
        .map_err(|e| io::Error::new(e.kind(), format!("bad SDDL {sddl:?}: {e}")))?;
        let sa = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: sd,
            bInheritHandle: 0,
        };
        let made = CreateDirectoryW(wpath.as_ptr(), &sa);
        let err = io::Error::last_os_error();
        LocalFree(sd);
        if made != 0 {
            return Ok(true);
        }
        if err.raw_os_error() == Some(ERROR_ALREADY_EXISTS as i32) {
            return Ok(false);
        }
        Err(io::Error::new(
            err.kind(),
            format!("cannot create {}: {err}", path.display()),
        ))
    }
}

const FSCTL_SET_REPARSE_POINT: u32 = 0x0009_00a4;
const IO_REPARSE_TAG_MOUNT_POINT: u32 = 0xa000_0003;

/// Make `link` (a new, empty folder) a junction to `target` (an absolute path), as
/// `mklink /J` does: `FSCTL_SET_REPARSE_POINT` with a mount-point buffer. Tests use it
/// to plant the junction an attacker would.
pub fn make_junction(link: &Path, target: &Path) -> io::Result<()> {
    std::fs::create_dir(link)?;
    let substitute: Vec<u16> = format!(r"\??\{}", target.display())
        .encode_utf16()
        .collect();
    let print: Vec<u16> = target.display().to_string().encode_utf16().collect();
    let (sub_bytes, print_bytes) = (substitute.len() * 2, print.len() * 2);
    // REPARSE_DATA_BUFFER (mount point): tag, data length, reserved, then 4 u16
    // offsets/lengths and the two NUL-terminated names.
    let path_buffer = sub_bytes + 2 + print_bytes + 2;
    let data_len = 8 + path_buffer;
    let mut buf: Vec<u8> = Vec::with_capacity(8 + data_len);
    buf.extend_from_slice(&IO_REPARSE_TAG_MOUNT_POINT.to_le_bytes());
    buf.extend_from_slice(&(data_len as u16).to_le_bytes());
    buf.extend_from_slice(&0u16.to_le_bytes());
    buf.extend_from_slice(&0u16.to_le_bytes()); // substitute offset
    buf.extend_from_slice(&(sub_bytes as u16).to_le_bytes());
    buf.extend_from_slice(&((sub_bytes + 2) as u16).to_le_bytes()); // print offset
    buf.extend_from_slice(&(print_bytes as u16).to_le_bytes());
    for c in substitute.iter().chain(&[0]).chain(&print).chain(&[0]) {
        buf.extend_from_slice(&c.to_le_bytes());
    }
    let h = open_no_follow(link, GENERIC_WRITE)?;
    let mut returned = 0u32;
    // SAFETY: a valid handle and a buffer of the length given.
    check(unsafe {
        DeviceIoControl(
            h.0,
            FSCTL_SET_REPARSE_POINT,
            buf.as_ptr().cast(),
            buf.len() as u32,
            std::ptr::null_mut(),
            0,
            &mut returned,
            std::ptr::null_mut(),
        )
    })
}

/// Give `path` itself (never what it points to) the owner and protected DACL in
/// `sddl` (`O:..D:P..`); refused when it is a reparse point. The check and the change
/// are made through one handle, so the path cannot be swapped in between.
pub fn reset_security_no_follow(path: &Path, sddl: &str) -> io::Result<()> {
    use windows_sys::Win32::Security::Authorization::SetSecurityInfo;
    use windows_sys::Win32::Security::PROTECTED_DACL_SECURITY_INFORMATION;
    use windows_sys::Win32::Storage::FileSystem::{WRITE_DAC, WRITE_OWNER};
    let h = open_no_follow(path, READ_CONTROL | WRITE_DAC | WRITE_OWNER)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: a zeroed plain-data struct filled by the call.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: a valid handle and a struct of the right type.
    check(unsafe { GetFileInformationByHandle(h.0, &mut info) })?;
    if info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is a junction or link (a reparse point); remove it (someone other than an administrator may have planted it) and install again",
                path.display()
            ),
        ));
    }
    let sd = super::acl::Descriptor::from_sddl(sddl)?;
    let (owner, dacl) = sd.owner_and_dacl()?;
    // SAFETY: a valid handle; the owner and DACL point into `sd`, alive for the call.
    let code = unsafe {
        SetSecurityInfo(
            h.0,
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
    super::acl::win32(code, "cannot set the permissions of", path)
}

/// Give a service the DACL in `sddl` (`SetServiceObjectSecurity`); the handle needs
/// WRITE_DAC.
pub fn set_service_security(
    service: &windows_service::service::Service,
    sddl: &str,
) -> io::Result<()> {
    use windows_sys::Win32::System::Services::SetServiceObjectSecurity;
    let sd = super::acl::Descriptor::from_sddl(sddl)?;
    // SAFETY: the service handle is valid for the borrow; `sd` lives for the call.
    check(unsafe {
        SetServiceObjectSecurity(service.raw_handle(), DACL_SECURITY_INFORMATION, sd.raw())
    })
}

/// A service's DACL as SDDL (`QueryServiceObjectSecurity`); the handle needs
/// READ_CONTROL.
pub fn service_security(service: &windows_service::service::Service) -> io::Result<String> {
    use windows_sys::Win32::System::Services::QueryServiceObjectSecurity;
    let mut needed = 0u32;
    // SAFETY: a size query with no buffer, then a buffer of the size asked for; the
    // string is LocalAlloc'ed by the conversion and freed.
    unsafe {
        QueryServiceObjectSecurity(
            service.raw_handle(),
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            0,
            &mut needed,
        );
        if needed == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; needed as usize];
        check(QueryServiceObjectSecurity(
            service.raw_handle(),
            DACL_SECURITY_INFORMATION,
            buf.as_mut_ptr().cast(),
            needed,
            &mut needed,
        ))?;
        super::acl::sddl_of(buf.as_mut_ptr().cast(), DACL_SECURITY_INFORMATION)
    }
}

/// Service hardening (issue 25): the host keeps only `privileges`, and the service has
/// its own unrestricted service SID (`NT SERVICE\<name>`). Each result is its own:
/// a system that does not implement one (Wine: docs/wine.md) fails that one.
pub fn harden_service(
    service: &windows_service::service::Service,
    privileges: &[&str],
) -> (io::Result<()>, io::Result<()>) {
    use windows_sys::Win32::System::Services::{
        ChangeServiceConfig2W, SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO,
        SERVICE_CONFIG_SERVICE_SID_INFO, SERVICE_REQUIRED_PRIVILEGES_INFOW, SERVICE_SID_INFO,
        SERVICE_SID_TYPE_UNRESTRICTED,
    };
    // A multi-string: each name NUL-terminated, then one more NUL.
    let mut multi: Vec<u16> = privileges
        .iter()
        .flat_map(|p| p.encode_utf16().chain(std::iter::once(0)))
        .collect();
    multi.push(0);
    let mut privs = SERVICE_REQUIRED_PRIVILEGES_INFOW {
        pmszRequiredPrivileges: multi.as_mut_ptr(),
    };
    let mut sid = SERVICE_SID_INFO {
        dwServiceSidType: SERVICE_SID_TYPE_UNRESTRICTED,
    };
    // SAFETY: a valid service handle and structs (with the buffer they point to) that
    // outlive the calls.
    unsafe {
        (
            check(ChangeServiceConfig2W(
                service.raw_handle(),
                SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO,
                (&mut privs as *mut SERVICE_REQUIRED_PRIVILEGES_INFOW).cast(),
            )),
            check(ChangeServiceConfig2W(
                service.raw_handle(),
                SERVICE_CONFIG_SERVICE_SID_INFO,
                (&mut sid as *mut SERVICE_SID_INFO).cast(),
            )),
        )
    }
}
