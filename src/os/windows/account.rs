//! What Windows says about an account, found by its SID (issue 22, item 3): its name
//! and domain now (LookupAccountSid: names change, the SID does not), the machine's
//! account domain (LsaQueryInformationPolicy), and a domain account's UPN. The
//! decisions on them are `crate::run_as::s4u`'s.

use super::token::{from_wide_ptr, sid_string, wide};
use super::{check, Handle};
use crate::run_as::s4u::{
    account_kind, s4u_request, AccountFacts, AccountKind, Group, S4uRequest, TokenFilter,
    TokenRights,
};
use std::io;
use windows_sys::Win32::Foundation::{LocalFree, LUID};
use windows_sys::Win32::Security::Authentication::Identity::{
    LsaClose, LsaFreeMemory, LsaOpenPolicy, LsaQueryInformationPolicy, NameSamCompatible,
    NameUserPrincipal, PolicyAccountDomainInformation, TranslateNameW, LSA_HANDLE,
    LSA_OBJECT_ATTRIBUTES, POLICY_ACCOUNT_DOMAIN_INFO, POLICY_VIEW_LOCAL_INFORMATION,
};
use windows_sys::Win32::Security::Authorization::ConvertStringSidToSidW;
use windows_sys::Win32::Security::{
    CreateRestrictedToken, GetLengthSid, LookupAccountSidW, LookupPrivilegeNameW,
    LookupPrivilegeValueW, SetTokenInformation, TokenGroups, TokenIntegrityLevel, TokenOwner,
    TokenPrivileges, TokenUser, LUA_TOKEN, LUID_AND_ATTRIBUTES, PSID, SID_AND_ATTRIBUTES,
    SID_NAME_USE, TOKEN_GROUPS, TOKEN_MANDATORY_LABEL, TOKEN_OWNER, TOKEN_PRIVILEGES, TOKEN_USER,
};

/// A SID from its string form, freed on drop.
struct OwnedSid(PSID);

impl OwnedSid {
    fn parse(sid: &str) -> io::Result<OwnedSid> {
        let w = wide(sid);
        let mut psid: PSID = std::ptr::null_mut();
        // SAFETY: NUL-terminated input; `psid` is LocalAlloc'ed by the call, freed on drop.
        check(unsafe { ConvertStringSidToSidW(w.as_ptr(), &mut psid) })
            .map_err(|e| io::Error::new(e.kind(), format!("`{sid}` is not a SID: {e}")))?;
        Ok(OwnedSid(psid))
    }
}

impl Drop for OwnedSid {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSidToSidW.
        unsafe { LocalFree(self.0.cast()) };
    }
}

/// LookupAccountSid of a SID string: (name, domain), or why not.
pub fn account_by_sid(sid: &str) -> io::Result<(String, String)> {
    let psid = OwnedSid::parse(sid)?;
    let (mut name, mut domain) = (vec![0u16; 256], vec![0u16; 256]);
    let (mut nl, mut dl) = (256u32, 256u32);
    let mut use_: SID_NAME_USE = 0;
    // SAFETY: buffers sized as passed; a valid SID.
    check(unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            psid.0,
            name.as_mut_ptr(),
            &mut nl,
            domain.as_mut_ptr(),
            &mut dl,
            &mut use_,
        )
    })
    .map_err(|e| io::Error::new(e.kind(), format!("no account has the SID {sid}: {e}")))?;
    Ok((
        String::from_utf16_lossy(&name[..nl as usize]),
        String::from_utf16_lossy(&domain[..dl as usize]),
    ))
}

/// The machine's account domain (the local SAM): its name and SID.
pub fn machine_domain() -> io::Result<(String, String)> {
    let nt = |status: i32, what: &str| {
        if status == 0 {
            Ok(())
        } else {
            Err(io::Error::other(format!("{what}: NTSTATUS {status:#010x}")))
        }
    };
    // SAFETY: zeroed attributes as LsaOpenPolicy wants; the buffer and handle are freed
    // below on every path.
    unsafe {
        let attrs: LSA_OBJECT_ATTRIBUTES = std::mem::zeroed();
        let mut policy: LSA_HANDLE = 0;
        nt(
            LsaOpenPolicy(
                std::ptr::null(),
                &attrs,
                POLICY_VIEW_LOCAL_INFORMATION as u32,
                &mut policy,
            ),
            "cannot open the LSA policy",
        )?;
        let mut buf = std::ptr::null_mut();
        let status = LsaQueryInformationPolicy(policy, PolicyAccountDomainInformation, &mut buf);
        LsaClose(policy);
        nt(status, "cannot read the machine's account domain")?;
        let info = &*(buf as *const POLICY_ACCOUNT_DOMAIN_INFO);
        let name = String::from_utf16_lossy(std::slice::from_raw_parts(
            info.DomainName.Buffer,
            info.DomainName.Length as usize / 2,
        ));
        let sid = if info.DomainSid.is_null() {
            Err(io::Error::other("the machine's account domain has no SID"))
        } else {
            sid_string(info.DomainSid)
        };
        LsaFreeMemory(buf);
        Ok((name, sid?))
    }
}

/// Everything `run_as::s4u` decides on for the account `sid`.
pub fn account_facts(sid: &str) -> AccountFacts {
    let (name, domain) = account_by_sid(sid).ok().unzip();
    let (machine_name, machine_sid) = machine_domain().ok().unzip();
    AccountFacts {
        sid: sid.to_string(),
        name,
        domain,
        machine_sid,
        machine_name,
    }
}

/// The user principal name of `DOMAIN\name` (a domain account; asks a DC).
pub fn upn_of(sam_name: &str) -> Option<String> {
    let w = wide(sam_name);
    let mut buf = vec![0u16; 512];
    let mut len = buf.len() as u32;
    // SAFETY: buffer sized as passed.
    let ok = unsafe {
        TranslateNameW(
            w.as_ptr(),
            NameSamCompatible,
            NameUserPrincipal,
            buf.as_mut_ptr(),
            &mut len,
        )
    };
    // SAFETY: on success the buffer holds a NUL-terminated string.
    ok.then(|| unsafe { from_wide_ptr(buf.as_ptr()) })
}

/// The S4U logon for the account `sid` as Windows knows it now (`run_as::s4u`): its
/// package and names, or why it has none.
pub fn s4u_request_for(sid: &str) -> io::Result<S4uRequest> {
    let facts = account_facts(sid);
    let upn = match (account_kind(&facts), &facts.name, &facts.domain) {
        (AccountKind::Domain, Some(name), Some(domain)) => upn_of(&format!("{domain}\\{name}")),
        _ => None,
    };
    s4u_request(&facts, upn.as_deref()).map_err(io::Error::other)
}

// ---- a token's rights, and the LUA filter ----

/// The rights of the running process `pid`'s token (`doctor`: is an S4U child elevated?).
pub fn process_rights(pid: u32) -> io::Result<TokenRights> {
    use windows_sys::Win32::Security::TOKEN_QUERY;
    super::UserToken(super::token::process_token(pid, TOKEN_QUERY)?).rights()
}

const SE_GROUP_INTEGRITY: u32 = 0x20;

fn privilege_name(luid: &LUID) -> String {
    let mut buf = vec![0u16; 128];
    let mut len = buf.len() as u32;
    // SAFETY: buffer sized as passed.
    let ok = unsafe { LookupPrivilegeNameW(std::ptr::null(), luid, buf.as_mut_ptr(), &mut len) };
    if ok == 0 {
        return format!("{}:{}", luid.HighPart, luid.LowPart);
    }
    String::from_utf16_lossy(&buf[..len as usize])
}

impl super::UserToken {
    /// What this token holds that UAC would filter: elevation type, groups, privileges,
    /// integrity label.
    pub fn rights(&self) -> io::Result<TokenRights> {
        let token = self.raw();
        let elevation = super::filtered::elevation_of(token).ok();
        let groups_buf = super::token::token_info(token, TokenGroups)?;
        let privs_buf = super::token::token_info(token, TokenPrivileges)?;
        let integrity = super::filtered::integrity_of(token)
            .ok()
            .and_then(|sid| super::filtered::integrity_rid(&sid));
        // SAFETY: each buffer holds the structure its class returns, with its arrays
        // laid out from the first element and SIDs pointing into the buffer.
        unsafe {
            let g = groups_buf.as_ptr() as *const TOKEN_GROUPS;
            let first = std::ptr::addr_of!((*g).Groups) as *const SID_AND_ATTRIBUTES;
            let groups = (0..(*g).GroupCount as usize)
                .filter_map(|i| {
                    let ga = &*first.add(i);
                    Some(Group {
                        sid: sid_string(ga.Sid).ok()?,
                        attributes: ga.Attributes,
                    })
                })
                .collect();
            let p = privs_buf.as_ptr() as *const TOKEN_PRIVILEGES;
            let firstp = std::ptr::addr_of!((*p).Privileges) as *const LUID_AND_ATTRIBUTES;
            let privileges = (0..(*p).PrivilegeCount as usize)
                .map(|i| privilege_name(&(*firstp.add(i)).Luid))
                .collect();
            Ok(TokenRights {
                elevation,
                groups,
                privileges,
                integrity,
            })
        }
    }

    /// This token with a filtered token's rights (`run_as::s4u::token_filter`): the
    /// groups in `deny` made deny-only, the privileges in `delete` removed
    /// (CreateRestrictedToken with LUA_TOKEN), the label lowered to medium.
    pub fn filtered(&self, filter: &TokenFilter) -> io::Result<super::UserToken> {
        let none: &[String] = &[];
        let (deny, delete, lower_integrity, flags) = match filter {
            TokenFilter::Keep => (none, none, false, 0),
            TokenFilter::Lua {
                deny,
                delete,
                lower_integrity,
            } => (&deny[..], &delete[..], *lower_integrity, LUA_TOKEN),
        };
        let sids = deny
            .iter()
            .map(|s| OwnedSid::parse(s))
            .collect::<io::Result<Vec<_>>>()?;
        let disable: Vec<SID_AND_ATTRIBUTES> = sids
            .iter()
            .map(|s| SID_AND_ATTRIBUTES {
                Sid: s.0,
                Attributes: 0,
            })
            .collect();
        let mut privileges = Vec::with_capacity(delete.len());
        for name in delete {
            let w = wide(name);
            let mut luid = LUID {
                LowPart: 0,
                HighPart: 0,
            };
            // SAFETY: NUL-terminated name, out-parameter.
            check(unsafe { LookupPrivilegeValueW(std::ptr::null(), w.as_ptr(), &mut luid) })
                .map_err(|e| io::Error::new(e.kind(), format!("unknown privilege {name}: {e}")))?;
            privileges.push(LUID_AND_ATTRIBUTES {
                Luid: luid,
                Attributes: 0,
            });
        }
        let mut raw = std::ptr::null_mut();
        // SAFETY: arrays sized as passed, alive for the call; `raw` receives an owned
        // token handle of the same type (primary) as ours.
        check(unsafe {
            CreateRestrictedToken(
                self.raw(),
                flags,
                disable.len() as u32,
                if disable.is_empty() {
                    std::ptr::null()
                } else {
                    disable.as_ptr()
                },
                privileges.len() as u32,
                if privileges.is_empty() {
                    std::ptr::null()
                } else {
                    privileges.as_ptr()
                },
                0,
                std::ptr::null(),
                &mut raw,
            )
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot filter the token (CreateRestrictedToken): {e}"),
            )
        })?;
        let token = super::UserToken(Handle::new(raw)?);
        // Wine does not implement SetTokenInformation(TokenOwner) (error 1, docs/wine.md).
        if flags == LUA_TOKEN && !super::running_under_wine() {
            // The objects the program creates are owned by the user, as a filtered
            // token's are, not by a group it may now only be denied by
            // (Administrators is an administrator's default owner on some editions).
            let user = super::token::token_info(token.raw(), TokenUser)?;
            // SAFETY: the buffer starts with a TOKEN_USER whose SID points into it.
            let owner = TOKEN_OWNER {
                Owner: unsafe { (*(user.as_ptr() as *const TOKEN_USER)).User.Sid },
            };
            // SAFETY: `owner` and the buffer its SID lives in outlive the call.
            check(unsafe {
                SetTokenInformation(
                    token.raw(),
                    TokenOwner,
                    std::ptr::addr_of!(owner).cast(),
                    std::mem::size_of::<TOKEN_OWNER>() as u32,
                )
            })
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot make the user the token's default owner: {e}"),
                )
            })?;
        }
        if lower_integrity {
            let medium = OwnedSid::parse(crate::run_as::s4u::MEDIUM_INTEGRITY_SID)?;
            let label = TOKEN_MANDATORY_LABEL {
                Label: SID_AND_ATTRIBUTES {
                    Sid: medium.0,
                    Attributes: SE_GROUP_INTEGRITY,
                },
            };
            // SAFETY: the label and its SID live across the call.
            let size = std::mem::size_of::<TOKEN_MANDATORY_LABEL>() as u32
                + unsafe { GetLengthSid(medium.0) };
            // SAFETY: a valid token handle with TOKEN_ADJUST_DEFAULT (all access).
            check(unsafe {
                SetTokenInformation(
                    token.raw(),
                    TokenIntegrityLevel,
                    std::ptr::addr_of!(label).cast(),
                    size,
                )
            })
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot lower the token to medium integrity: {e}"),
                )
            })?;
        }
        Ok(token)
    }

    /// This token as the program may have it (issue 22): filtered to a UAC-filtered
    /// token's rights when it holds more (`run_as::s4u::token_filter`).
    pub fn unelevated(self) -> io::Result<super::UserToken> {
        match crate::run_as::s4u::token_filter(&self.rights()?) {
            TokenFilter::Keep => Ok(self),
            filter => self.filtered(&filter),
        }
    }
}
