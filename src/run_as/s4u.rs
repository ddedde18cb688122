//! The service-for-user (S4U) logon by account kind (issue 22, item 3), as pure
//! decisions table-tested on every OS. The host (LocalSystem) logs a logged-off user on
//! through S4U to run their program without their password. Which way that works
//! depends on the kind of account, which Windows says through its SID:
//!
//! | signal | kind | S4U |
//! | --- | --- | --- |
//! | `S-1-12-1-…` (LookupAccountSid: `AzureAD\…`) | Entra ID | none exists: refused |
//! | `S-1-5-21-<machine>-RID`, the machine's account-domain SID (LsaQueryInformationPolicy(PolicyAccountDomainInformation)) | local (also a Microsoft-account-linked one: its SID is local, only its sign-in name is `MicrosoftAccount\…`) | MSV1_0, `MSV1_0_S4U_LOGON` |
//! | `S-1-5-21-<other>-RID` | domain | Kerberos, `KERB_S4U_LOGON` (needs a domain controller) |
//! | anything else (`S-1-5-18`, a group, …) | other | refused |
//!
//! When the machine's account-domain SID cannot be read, LookupAccountSid's domain name
//! against the machine's name decides local vs domain. The account is always found by
//! its SID (the install record keeps it; names change), never by the recorded name.
//!
//! Also here: whether an S4U token must be filtered (a Network logon is not UAC-split,
//! so an administrator's S4U token is elevated), what the filter removes, and what an
//! NTSTATUS (and substatus) from LsaLogonUser means for the user.

use crate::spec::service::WhenLoggedOff;

/// What the OS says about an account, found by its SID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFacts {
    /// `S-1-5-21-…`
    pub sid: String,
    /// LookupAccountSid's name and domain (`ann`, `PC`), when it knows the SID.
    pub name: Option<String>,
    pub domain: Option<String>,
    /// The machine's account domain: its SID (`S-1-5-21-a-b-c`) and name (the
    /// computer's NetBIOS name), from the LSA policy.
    pub machine_sid: Option<String>,
    pub machine_name: Option<String>,
}

/// The kind of account, for the S4U logon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// An account of this machine's SAM (a Microsoft-account-linked one too).
    Local,
    /// An Active Directory account.
    Domain,
    /// A Microsoft Entra ID (Azure AD) account: `AzureAD\…`, `S-1-12-1-…`.
    EntraId,
    /// Not a user account S4U knows (a well-known SID, a group, an unknown SID).
    Other,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Local => "local",
            AccountKind::Domain => "domain",
            AccountKind::EntraId => "Entra ID",
            AccountKind::Other => "other",
        }
    }
}

/// The domain part of an `S-1-5-21-a-b-c-RID` user SID (`S-1-5-21-a-b-c`), if it is one.
pub fn domain_of_sid(sid: &str) -> Option<&str> {
    let rest = sid.strip_prefix("S-1-5-21-")?;
    let parts: Vec<&str> = rest.split('-').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 4 || !parts.iter().all(numeric) {
        return None;
    }
    let cut = sid.len() - parts[3].len() - 1;
    Some(&sid[..cut])
}

/// The kind of the account `facts` describes (the table in the module's comment).
pub fn account_kind(facts: &AccountFacts) -> AccountKind {
    if facts.sid.starts_with("S-1-12-1-")
        || facts
            .domain
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case("AzureAD"))
    {
        return AccountKind::EntraId;
    }
    let Some(domain_sid) = domain_of_sid(&facts.sid) else {
        return AccountKind::Other;
    };
    if let Some(machine) = facts.machine_sid.as_deref() {
        return if machine.eq_ignore_ascii_case(domain_sid) {
            AccountKind::Local
        } else {
            AccountKind::Domain
        };
    }
    match (facts.domain.as_deref(), facts.machine_name.as_deref()) {
        (Some(d), Some(m)) if d.eq_ignore_ascii_case(m) => AccountKind::Local,
        (Some(d), Some(_)) if !d.is_empty() => AccountKind::Domain,
        _ => AccountKind::Other,
    }
}

/// The authentication package an S4U logon goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S4uPackage {
    /// `MICROSOFT_AUTHENTICATION_PACKAGE_V1_0` with `MSV1_0_S4U_LOGON`: local accounts.
    Msv1_0,
    /// `Kerberos` with `KERB_S4U_LOGON`: domain accounts (S4U2Self at a DC).
    Kerberos,
}

/// What the host asks the LSA for: package, and the names it passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S4uRequest {
    pub package: S4uPackage,
    /// MSV1_0: the user name; Kerberos: the UPN when known, else the user name.
    pub user: String,
    /// MSV1_0: the machine's name (or `.`); Kerberos: the realm, empty with a UPN.
    pub domain: String,
    /// `DOMAIN\name` as Windows names the account now, for messages.
    pub display: String,
}

/// Why `when_logged_off = "run"` cannot work for an account of this kind, with what to
/// do instead (`None`: it can).
pub fn no_s4u_reason(kind: AccountKind, display: &str) -> Option<String> {
    match kind {
        AccountKind::Local | AccountKind::Domain => None,
        AccountKind::EntraId => Some(format!(
            "{display} is a Microsoft Entra ID (Azure AD) account, and Windows has no \
             service-for-user logon for those: the program cannot run while you are logged \
             off; set when_logged_off = \"wait\" in [service] (it then starts when you log on)"
        )),
        AccountKind::Other => Some(format!(
            "{display} is not a local or domain user account, so Windows cannot log it on \
             without a password while it is logged off; set when_logged_off = \"wait\" in \
             [service], or install as a local or domain user"
        )),
    }
}

/// The S4U logon for an account (found by SID): the package and names, or why there is
/// none. `upn` is the domain account's user principal name when it could be looked up.
pub fn s4u_request(facts: &AccountFacts, upn: Option<&str>) -> Result<S4uRequest, String> {
    let name = facts.name.clone().unwrap_or_default();
    let domain = facts.domain.clone().unwrap_or_default();
    let display = match (name.is_empty(), domain.is_empty()) {
        (true, _) => facts.sid.clone(),
        (false, true) => name.clone(),
        (false, false) => format!("{domain}\\{name}"),
    };
    let kind = account_kind(facts);
    if let Some(why) = no_s4u_reason(kind, &display) {
        return Err(why);
    }
    if name.is_empty() && kind == AccountKind::Domain {
        return Err(format!(
            "Windows cannot look up the domain account with the SID {} now (no domain \
             controller reachable?); it logs on again once one is, or set \
             when_logged_off = \"wait\" in [service]",
            facts.sid
        ));
    }
    if name.is_empty() {
        return Err(format!(
            "no account has the SID {} any more (deleted?); reinstall as an existing user, \
             or set when_logged_off = \"wait\" in [service]",
            facts.sid
        ));
    }
    Ok(match kind {
        AccountKind::Domain => match upn.filter(|u| u.contains('@')) {
            Some(upn) => S4uRequest {
                package: S4uPackage::Kerberos,
                user: upn.to_string(),
                domain: String::new(),
                display,
            },
            None => S4uRequest {
                package: S4uPackage::Kerberos,
                user: name,
                domain,
                display,
            },
        },
        // The machine's own name, not the lookup's domain: a Microsoft-account-linked
        // account may be shown under `MicrosoftAccount`, which MSV1_0 does not know.
        _ => S4uRequest {
            package: S4uPackage::Msv1_0,
            user: name,
            domain: facts
                .machine_name
                .clone()
                .filter(|m| !m.is_empty())
                .or(Some(domain).filter(|d| !d.is_empty()))
                .unwrap_or_else(|| ".".into()),
            display,
        },
    })
}

/// Install: refuse `when_logged_off = "run"` for an account that cannot have it.
pub fn check_when_logged_off(
    setting: WhenLoggedOff,
    kind: AccountKind,
    display: &str,
) -> Result<(), String> {
    match (setting, no_s4u_reason(kind, display)) {
        (WhenLoggedOff::Run, Some(why)) => Err(format!(
            "cannot install with when_logged_off = \"run\" (the default): {why}"
        )),
        _ => Ok(()),
    }
}

/// `doctor`'s trial S4U logon: what was asked, the token's rights, and the rights
/// after the host's filter (or why it could not be applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S4uTrial {
    pub request: S4uRequest,
    pub rights: TokenRights,
    pub filtered: Result<TokenRights, String>,
}

/// The host's start: what a logged-off user's service does, given the account's kind.
/// An Entra ID account can never have S4U (installed by an older respawn, which did
/// not refuse it): it waits for its user instead of failing at every start, and says
/// so once. Any other account keeps its setting (a failed logon says why itself).
pub fn host_when_logged_off(
    setting: WhenLoggedOff,
    kind: AccountKind,
    display: &str,
) -> (WhenLoggedOff, Option<String>) {
    match (setting, kind) {
        (WhenLoggedOff::Run, AccountKind::EntraId) => (
            WhenLoggedOff::Wait,
            no_s4u_reason(kind, display).map(|why| {
                format!("when_logged_off = \"run\" cannot work: {why}; until then the program waits while they are logged off")
            }),
        ),
        _ => (setting, None),
    }
}

// ---- what an LsaLogonUser failure means ----

/// An NTSTATUS from LsaLogonUser, with its substatus, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogonFailure {
    pub status: u32,
    pub substatus: u32,
    /// What it means, in words (no codes).
    pub meaning: String,
    /// What to do.
    pub fix: String,
}

impl LogonFailure {
    /// One line: the meaning, the codes, what to do.
    pub fn line(&self) -> String {
        let sub = if self.substatus != 0 {
            format!(", substatus {:#010x}", self.substatus)
        } else {
            String::new()
        };
        format!(
            "{} (NTSTATUS {:#010x}{sub}); {}",
            self.meaning, self.status, self.fix
        )
    }
}

pub const STATUS_UNSUCCESSFUL: u32 = 0xC000_0001;
pub const STATUS_ACCESS_DENIED: u32 = 0xC000_0022;
pub const STATUS_NO_LOGON_SERVERS: u32 = 0xC000_005E;
pub const STATUS_PRIVILEGE_NOT_HELD: u32 = 0xC000_0061;
pub const STATUS_NO_SUCH_USER: u32 = 0xC000_0064;
pub const STATUS_WRONG_PASSWORD: u32 = 0xC000_006A;
pub const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;
pub const STATUS_ACCOUNT_RESTRICTION: u32 = 0xC000_006E;
pub const STATUS_INVALID_LOGON_HOURS: u32 = 0xC000_006F;
pub const STATUS_INVALID_WORKSTATION: u32 = 0xC000_0070;
pub const STATUS_PASSWORD_EXPIRED: u32 = 0xC000_0071;
pub const STATUS_ACCOUNT_DISABLED: u32 = 0xC000_0072;
pub const STATUS_NOT_SUPPORTED: u32 = 0xC000_00BB;
pub const STATUS_NO_SUCH_PACKAGE: u32 = 0xC000_00FE;
pub const STATUS_LOGON_TYPE_NOT_GRANTED: u32 = 0xC000_015B;
pub const STATUS_TRUSTED_DOMAIN_FAILURE: u32 = 0xC000_018C;
pub const STATUS_ACCOUNT_EXPIRED: u32 = 0xC000_0193;
pub const STATUS_PASSWORD_MUST_CHANGE: u32 = 0xC000_0224;
pub const STATUS_ACCOUNT_LOCKED_OUT: u32 = 0xC000_0234;
pub const STATUS_NO_TRUST_SAM_ACCOUNT: u32 = 0xC000_018B;

const WAIT: &str = "or set when_logged_off = \"wait\" in [service] and reinstall, so the program \
                    runs only while you are logged on";

/// What a failed service-for-user logon of `who` means and what to do, from the
/// NTSTATUS LsaLogonUser returned and its substatus (`windows_text`: Windows' own text
/// for the status, used when respawn has nothing better).
pub fn logon_failure(status: u32, substatus: u32, who: &str, windows_text: &str) -> LogonFailure {
    let f = |meaning: String, fix: String| LogonFailure {
        status,
        substatus,
        meaning,
        fix,
    };
    // STATUS_ACCOUNT_RESTRICTION and STATUS_LOGON_FAILURE say more in the substatus.
    let detail = match status {
        STATUS_ACCOUNT_RESTRICTION | STATUS_LOGON_FAILURE if substatus != 0 => substatus,
        _ => status,
    };
    match detail {
        STATUS_LOGON_TYPE_NOT_GRANTED => f(
            format!("Windows does not let {who} log on this way: a security policy denies the account the network logon a service-for-user logon is (hardened machines and Microsoft's security baselines deny it to local accounts, \"Deny access to this computer from the network\" with Local account, S-1-5-113)"),
            format!("ask the machine's administrator to allow it (secpol.msc, Local Policies, User Rights Assignment, \"Deny access to this computer from the network\": remove the account or \"Local account\"), {WAIT}"),
        ),
        STATUS_ACCOUNT_DISABLED => f(
            format!("the account {who} is disabled"),
            format!("enable it or reinstall as another user, {WAIT}"),
        ),
        STATUS_ACCOUNT_EXPIRED => f(
            format!("the account {who} has expired"),
            "ask its administrator to extend it, or reinstall as another user".to_string(),
        ),
        STATUS_ACCOUNT_LOCKED_OUT => f(
            format!("the account {who} is locked out (too many wrong passwords)"),
            "it logs on again once unlocked (by an administrator, or when the lockout duration ends)".to_string(),
        ),
        STATUS_PASSWORD_EXPIRED | STATUS_PASSWORD_MUST_CHANGE => f(
            format!("the password of {who} has expired or must be changed"),
            "log on once and change it; the program then runs while you are logged off again".to_string(),
        ),
        STATUS_INVALID_LOGON_HOURS => f(
            format!("{who} may not log on at this time of day (logon hours)"),
            format!("it runs again within the account's logon hours, {WAIT}"),
        ),
        STATUS_INVALID_WORKSTATION => f(
            format!("{who} may not log on to this computer (the account's \"log on to\" list)"),
            format!("ask the domain's administrator to add this computer, {WAIT}"),
        ),
        STATUS_NO_SUCH_USER | STATUS_WRONG_PASSWORD => f(
            format!("Windows no longer knows the account {who}"),
            "reinstall the service as an existing user (`respawn install` from their elevated prompt)".to_string(),
        ),
        STATUS_NO_LOGON_SERVERS => f(
            format!("no domain controller could be reached to log {who} on (a domain account's service-for-user logon needs one: off the network or VPN, it cannot work)"),
            format!("it works again once a domain controller is reachable, {WAIT}"),
        ),
        STATUS_TRUSTED_DOMAIN_FAILURE | STATUS_NO_TRUST_SAM_ACCOUNT => f(
            format!("this computer's trust with {who}'s domain is broken"),
            "repair the domain membership (Test-ComputerSecureChannel -Repair), then `respawn restart`".to_string(),
        ),
        STATUS_NOT_SUPPORTED | STATUS_NO_SUCH_PACKAGE => f(
            format!("Windows' authentication package cannot log {who} on through a service-for-user logon"),
            format!("run `respawn doctor` and send its output with a bug report, {WAIT}"),
        ),
        STATUS_PRIVILEGE_NOT_HELD | STATUS_ACCESS_DENIED => f(
            format!("the service host is not allowed to log {who} on for them (it must run as LocalSystem, which holds the \"Act as part of the operating system\" privilege)"),
            "reinstall with `respawn install` from an elevated prompt, so the service runs as LocalSystem".to_string(),
        ),
        _ => f(
            format!("the service-for-user logon of {who} failed: {windows_text}"),
            format!("run `respawn doctor` and look at its `s4u` check, {WAIT}"),
        ),
    }
}

// ---- an elevated S4U token gets the rights of a filtered one ----

pub use super::Elevation;

/// A token's group as GetTokenInformation(TokenGroups) gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub sid: String,
    /// SE_GROUP_* attributes.
    pub attributes: u32,
}

pub const SE_GROUP_ENABLED: u32 = 0x4;
pub const SE_GROUP_USE_FOR_DENY_ONLY: u32 = 0x10;

/// What a token has that UAC would filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRights {
    pub elevation: Option<Elevation>,
    pub groups: Vec<Group>,
    /// Privilege names (`SeDebugPrivilege`).
    pub privileges: Vec<String>,
    /// The mandatory label's RID: 0x2000 medium, 0x3000 high, 0x4000 system.
    pub integrity: Option<u32>,
}

/// The privileges a UAC-filtered token keeps; every other one is removed.
pub const LUA_PRIVILEGES: [&str; 5] = [
    "SeChangeNotifyPrivilege",
    "SeShutdownPrivilege",
    "SeUndockPrivilege",
    "SeIncreaseWorkingSetPrivilege",
    "SeTimeZonePrivilege",
];

/// Medium integrity, the label of a filtered token.
pub const MEDIUM_INTEGRITY: u32 = 0x2000;
pub const MEDIUM_INTEGRITY_SID: &str = "S-1-16-8192";

/// Whether a group makes a token one UAC splits: the built-in groups Microsoft lists
/// (Administrators, Power Users, Account/Server/Print/Backup Operators, RAS Servers,
/// Network Configuration Operators), the domain's admin groups (Domain Admins, Domain
/// Controllers, Cert Publishers, Schema Admins, Enterprise Admins, Group Policy
/// Creator Owners, Enterprise Read-only DCs), and "local account and member of
/// Administrators" (S-1-5-114).
pub fn is_filtered_group(sid: &str) -> bool {
    const BUILTIN: [&str; 9] = [
        "544", "547", "548", "549", "550", "551", "552", "553", "556",
    ];
    const DOMAIN: [&str; 7] = ["498", "512", "516", "517", "518", "519", "520"];
    if sid == "S-1-5-114" {
        return true;
    }
    if let Some(rid) = sid.strip_prefix("S-1-5-32-") {
        return BUILTIN.contains(&rid);
    }
    domain_of_sid(sid).is_some_and(|_| {
        let rid = sid.rsplit('-').next().unwrap_or_default();
        DOMAIN.contains(&rid)
    })
}

/// What to do with an S4U token before the program gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenFilter {
    /// Nothing to remove: use it as it is.
    Keep,
    /// Make it what a UAC-filtered interactive token is: `deny` groups become
    /// deny-only, `delete` privileges go, the label becomes medium (CreateRestrictedToken
    /// with LUA_TOKEN, then SetTokenInformation(TokenIntegrityLevel)).
    Lua {
        deny: Vec<String>,
        delete: Vec<String>,
        lower_integrity: bool,
    },
}

/// The privileges that make Windows split a token at an interactive logon (with the
/// groups of [`is_filtered_group`]): a token holding one is an administrator's.
pub const ELEVATED_PRIVILEGES: [&str; 9] = [
    "SeCreateTokenPrivilege",
    "SeTcbPrivilege",
    "SeTakeOwnershipPrivilege",
    "SeBackupPrivilege",
    "SeRestorePrivilege",
    "SeDebugPrivilege",
    "SeImpersonatePrivilege",
    "SeRelabelPrivilege",
    "SeLoadDriverPrivilege",
];

/// Whether (and how) an S4U token is filtered, as UAC filters an interactive logon's:
/// a token Windows would split (the full half of a split token, a group UAC filters
/// still enabled, one of [`ELEVATED_PRIVILEGES`], or a label above medium) gets the
/// filtered half's rights: those groups deny-only, every privilege but the five of
/// [`LUA_PRIVILEGES`] removed, medium integrity. Any other token (a standard user's,
/// with whatever privileges policy gives them; the filtered half itself) is kept, as
/// Windows keeps it at an interactive logon. Issue 22: a Network logon is not
/// UAC-split, so an administrator's S4U child would otherwise run elevated while they
/// are logged off.
pub fn token_filter(rights: &TokenRights) -> TokenFilter {
    if rights.elevation == Some(Elevation::Limited) {
        return TokenFilter::Keep;
    }
    let has = |list: &[&str], p: &str| list.iter().any(|k| k.eq_ignore_ascii_case(p));
    let deny: Vec<String> = rights
        .groups
        .iter()
        .filter(|g| g.attributes & SE_GROUP_USE_FOR_DENY_ONLY == 0 && is_filtered_group(&g.sid))
        .map(|g| g.sid.clone())
        .collect();
    let lower_integrity = rights.integrity.is_some_and(|rid| rid > MEDIUM_INTEGRITY);
    let split = rights.elevation == Some(Elevation::Full)
        || !deny.is_empty()
        || lower_integrity
        || rights
            .privileges
            .iter()
            .any(|p| has(&ELEVATED_PRIVILEGES, p));
    if !split {
        return TokenFilter::Keep;
    }
    let delete: Vec<String> = rights
        .privileges
        .iter()
        .filter(|p| !has(&LUA_PRIVILEGES, p))
        .cloned()
        .collect();
    TokenFilter::Lua {
        deny,
        delete,
        lower_integrity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "S-1-5-21-111-222-333";

    fn facts(sid: &str, domain: &str, machine_sid: Option<&str>) -> AccountFacts {
        AccountFacts {
            sid: sid.into(),
            name: Some("ann".into()),
            domain: Some(domain.into()),
            machine_sid: machine_sid.map(str::to_string),
            machine_name: Some("PC".into()),
        }
    }

    #[test]
    fn account_kinds_and_their_logon() {
        use AccountKind::*;
        // sid, LookupAccountSid's domain, machine SID known, kind, package or refusal
        type Row<'a> = (
            &'a str,
            &'a str,
            bool,
            AccountKind,
            Result<S4uPackage, &'a str>,
        );
        let table: [Row; 12] = [
            (
                "S-1-5-21-111-222-333-1001",
                "PC",
                true,
                Local,
                Ok(S4uPackage::Msv1_0),
            ),
            // a Microsoft-account-linked local account: a local SID
            (
                "S-1-5-21-111-222-333-1002",
                "PC",
                true,
                Local,
                Ok(S4uPackage::Msv1_0),
            ),
            (
                "S-1-5-21-9-8-7-1105",
                "CORP",
                true,
                Domain,
                Ok(S4uPackage::Kerberos),
            ),
            // the SID decides, whatever the name says
            (
                "S-1-5-21-9-8-7-1105",
                "PC",
                true,
                Domain,
                Ok(S4uPackage::Kerberos),
            ),
            (
                "S-1-5-21-111-222-333-500",
                "CORP",
                true,
                Local,
                Ok(S4uPackage::Msv1_0),
            ),
            // machine SID unknown: the names decide
            (
                "S-1-5-21-111-222-333-1001",
                "pc",
                false,
                Local,
                Ok(S4uPackage::Msv1_0),
            ),
            (
                "S-1-5-21-9-8-7-1105",
                "CORP",
                false,
                Domain,
                Ok(S4uPackage::Kerberos),
            ),
            (
                "S-1-5-21-9-8-7-1105",
                "",
                false,
                Other,
                Err("not a local or domain"),
            ),
            // Entra ID: no S4U
            (
                "S-1-12-1-1111-2222-3333-4444",
                "AzureAD",
                true,
                EntraId,
                Err("Entra ID"),
            ),
            (
                "S-1-12-1-1111-2222-3333-4444",
                "",
                false,
                EntraId,
                Err("Entra ID"),
            ),
            (
                "S-1-5-18",
                "NT AUTHORITY",
                true,
                Other,
                Err("not a local or domain"),
            ),
            (
                "S-1-5-21-1-2",
                "PC",
                true,
                Other,
                Err("not a local or domain"),
            ),
        ];
        for (sid, domain, known, kind, want) in table {
            let f = facts(sid, domain, known.then_some(MACHINE));
            assert_eq!(account_kind(&f), kind, "{sid} {domain} {known}");
            let got = s4u_request(&f, None);
            match (want, got) {
                (Ok(pkg), Ok(req)) => assert_eq!(req.package, pkg, "{sid}"),
                (Err(text), Err(why)) => {
                    assert!(why.contains(text), "{why}");
                    assert!(why.contains("when_logged_off = \"wait\""), "{why}");
                }
                (want, got) => panic!("{sid} {domain}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn the_request_names_the_account_as_windows_knows_it_now() {
        let local = facts("S-1-5-21-111-222-333-1001", "PC", Some(MACHINE));
        let req = s4u_request(&local, None).unwrap();
        assert_eq!((req.user.as_str(), req.domain.as_str()), ("ann", "PC"));
        assert_eq!(req.display, "PC\\ann");
        let dom = facts("S-1-5-21-9-8-7-1105", "CORP", Some(MACHINE));
        let req = s4u_request(&dom, Some("ann@corp.example")).unwrap();
        assert_eq!(
            (req.package, req.user.as_str(), req.domain.as_str()),
            (S4uPackage::Kerberos, "ann@corp.example", "")
        );
        // a Microsoft-account-linked local account shown under MicrosoftAccount: its
        // SID is local, and MSV1_0 is asked with the machine's name
        let msa = facts(
            "S-1-5-21-111-222-333-1002",
            "MicrosoftAccount",
            Some(MACHINE),
        );
        let req = s4u_request(&msa, None).unwrap();
        assert_eq!(
            (req.package, req.user.as_str(), req.domain.as_str()),
            (S4uPackage::Msv1_0, "ann", "PC")
        );
        // no UPN: the name with its realm
        let req = s4u_request(&dom, Some("not-a-upn")).unwrap();
        assert_eq!((req.user.as_str(), req.domain.as_str()), ("ann", "CORP"));
        // a SID nobody has any more
        let gone = AccountFacts {
            name: None,
            domain: None,
            ..local
        };
        let err = s4u_request(&gone, None).unwrap_err();
        assert!(err.contains("S-1-5-21-111-222-333-1001"), "{err}");
        assert!(err.contains("deleted"), "{err}");
        // a domain account Windows cannot look up now (offline): not "deleted"
        let offline = AccountFacts {
            sid: "S-1-5-21-9-8-7-1105".into(),
            ..gone
        };
        let err = s4u_request(&offline, None).unwrap_err();
        assert!(err.contains("domain controller"), "{err}");
    }

    #[test]
    fn install_refuses_run_for_accounts_without_s4u() {
        use AccountKind::*;
        use WhenLoggedOff::*;
        for (setting, kind, ok) in [
            (Run, Local, true),
            (Run, Domain, true),
            (Run, EntraId, false),
            (Run, Other, false),
            (Wait, EntraId, true),
            (Wait, Other, true),
            (Wait, Local, true),
        ] {
            let got = check_when_logged_off(setting, kind, "AzureAD\\ann");
            assert_eq!(got.is_ok(), ok, "{setting:?} {kind:?}");
            if let Err(e) = got {
                assert!(e.contains("when_logged_off = \"wait\""), "{e}");
                assert!(e.contains("AzureAD\\ann"), "{e}");
            }
        }
    }

    #[test]
    fn the_host_waits_for_an_entra_id_user_it_cannot_log_on() {
        use AccountKind::*;
        use WhenLoggedOff::*;
        for (setting, kind, want, warns) in [
            (Run, EntraId, Wait, true),
            (Wait, EntraId, Wait, false),
            (Run, Local, Run, false),
            (Run, Domain, Run, false),
            (Run, Other, Run, false),
            (Wait, Local, Wait, false),
        ] {
            let (got, warning) = host_when_logged_off(setting, kind, "AzureAD\\ann");
            assert_eq!(got, want, "{setting:?} {kind:?}");
            assert_eq!(warning.is_some(), warns, "{setting:?} {kind:?}");
            if let Some(w) = warning {
                assert!(w.contains("AzureAD\\ann") && w.contains("waits"), "{w}");
            }
        }
    }

    #[test]
    fn logon_failures_say_what_they_mean() {
        // status, substatus, words in the meaning, words in the fix
        let table: [(u32, u32, &str, &str); 14] = [
            (
                STATUS_LOGON_TYPE_NOT_GRANTED,
                0,
                "Deny access to this computer from the network",
                "when_logged_off = \"wait\"",
            ),
            (
                STATUS_ACCOUNT_RESTRICTION,
                STATUS_ACCOUNT_DISABLED,
                "is disabled",
                "enable it",
            ),
            (
                STATUS_ACCOUNT_RESTRICTION,
                STATUS_ACCOUNT_EXPIRED,
                "has expired",
                "extend",
            ),
            (
                STATUS_ACCOUNT_RESTRICTION,
                STATUS_INVALID_LOGON_HOURS,
                "logon hours",
                "logon hours",
            ),
            (
                STATUS_ACCOUNT_RESTRICTION,
                STATUS_INVALID_WORKSTATION,
                "log on to",
                "add this computer",
            ),
            (
                STATUS_ACCOUNT_RESTRICTION,
                STATUS_PASSWORD_EXPIRED,
                "password",
                "change it",
            ),
            (
                STATUS_LOGON_FAILURE,
                STATUS_NO_SUCH_USER,
                "no longer knows",
                "reinstall",
            ),
            (STATUS_ACCOUNT_LOCKED_OUT, 0, "locked out", "unlocked"),
            (STATUS_NO_LOGON_SERVERS, 0, "domain controller", "reachable"),
            (
                STATUS_TRUSTED_DOMAIN_FAILURE,
                0,
                "trust",
                "Test-ComputerSecureChannel",
            ),
            (
                STATUS_NOT_SUPPORTED,
                0,
                "authentication package",
                "bug report",
            ),
            (STATUS_PRIVILEGE_NOT_HELD, 0, "LocalSystem", "elevated"),
            // a substatus that says nothing more: the status decides
            (STATUS_LOGON_FAILURE, 0, "Windows' words", "doctor"),
            (0xC000_0123, 0, "Windows' words", "doctor"),
        ];
        for (status, sub, meaning, fix) in table {
            let got = logon_failure(status, sub, "PC\\ann", "Windows' words");
            assert!(
                got.meaning.contains(meaning),
                "{status:#x}/{sub:#x}: {got:?}"
            );
            assert!(got.fix.contains(fix), "{status:#x}/{sub:#x}: {got:?}");
            let line = got.line();
            assert!(line.contains(&format!("NTSTATUS {status:#010x}")), "{line}");
            assert_eq!(line.contains("substatus"), sub != 0, "{line}");
        }
        let line =
            logon_failure(STATUS_ACCOUNT_RESTRICTION, STATUS_ACCOUNT_DISABLED, "x", "").line();
        assert!(
            line.contains("NTSTATUS 0xc000006e, substatus 0xc0000072"),
            "{line}"
        );
    }

    fn g(sid: &str, attributes: u32) -> Group {
        Group {
            sid: sid.into(),
            attributes,
        }
    }

    #[test]
    fn elevated_s4u_tokens_are_filtered() {
        let en = SE_GROUP_ENABLED | 0x3; // enabled, mandatory, enabled by default
        let deny = SE_GROUP_USE_FOR_DENY_ONLY;
        let admins = g("S-1-5-32-544", en);
        let users = g("S-1-5-32-545", en);
        let local_admin = g("S-1-5-114", en);
        let domain_admins = g("S-1-5-21-9-8-7-512", en);
        let privs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rights = |e, groups: Vec<Group>, p: &[&str], il| TokenRights {
            elevation: e,
            groups,
            privileges: privs(p),
            integrity: il,
        };
        use Elevation::*;
        // elevation, groups, privileges, label -> (deny, delete, lower) or keep
        type Want<'a> = Option<(&'a [&'a str], &'a [&'a str], bool)>;
        let table: Vec<(TokenRights, Want)> = vec![
            // an administrator's S4U (Network) token: not split, admin, high
            (
                rights(
                    Some(Default),
                    vec![admins.clone(), users.clone(), local_admin.clone()],
                    &[
                        "SeChangeNotifyPrivilege",
                        "SeDebugPrivilege",
                        "SeBackupPrivilege",
                    ],
                    Some(0x3000),
                ),
                Some((
                    &["S-1-5-32-544", "S-1-5-114"],
                    &["SeDebugPrivilege", "SeBackupPrivilege"],
                    true,
                )),
            ),
            // a domain admin's
            (
                rights(
                    Some(Default),
                    vec![users.clone(), domain_admins.clone()],
                    &["SeChangeNotifyPrivilege"],
                    Some(0x3000),
                ),
                Some((&["S-1-5-21-9-8-7-512"], &[], true)),
            ),
            // the full half of a split token, already nothing to remove: still filtered
            (
                rights(Some(Full), vec![users.clone()], &[], Some(0x2000)),
                Some((&[], &[], false)),
            ),
            // a standard user's S4U token: kept as it is
            (
                rights(
                    Some(Default),
                    vec![users.clone()],
                    &[
                        "SeChangeNotifyPrivilege",
                        "SeShutdownPrivilege",
                        "SeTimeZonePrivilege",
                    ],
                    Some(0x2000),
                ),
                None,
            ),
            // a filtered token is left alone
            (
                rights(
                    Some(Limited),
                    vec![g("S-1-5-32-544", deny)],
                    &["SeChangeNotifyPrivilege"],
                    Some(0x2000),
                ),
                None,
            ),
            // Administrators already deny-only, but a privilege left: filtered
            (
                rights(
                    Some(Default),
                    vec![g("S-1-5-32-544", deny)],
                    &["SeImpersonatePrivilege"],
                    Some(0x2000),
                ),
                Some((&[], &["SeImpersonatePrivilege"], false)),
            ),
            // Backup Operators alone make a token UAC splits
            (
                rights(
                    Some(Default),
                    vec![g("S-1-5-32-551", en)],
                    &[],
                    Some(0x2000),
                ),
                Some((&["S-1-5-32-551"], &[], false)),
            ),
            // a standard user with a privilege policy gives them (not one that makes
            // Windows split a token): kept, as at their interactive logon
            (
                rights(
                    Some(Default),
                    vec![users.clone()],
                    &["SeChangeNotifyPrivilege", "SeCreateSymbolicLinkPrivilege"],
                    Some(0x2000),
                ),
                None,
            ),
            // an admin's: every privilege but the five goes, the symlink one too
            (
                rights(
                    Some(Default),
                    vec![admins.clone()],
                    &["SeCreateSymbolicLinkPrivilege"],
                    Some(0x3000),
                ),
                Some((&["S-1-5-32-544"], &["SeCreateSymbolicLinkPrivilege"], true)),
            ),
            // unknown elevation (not readable): judged by what it holds
            (rights(None, vec![users.clone()], &[], None), None),
            (
                rights(None, vec![admins.clone()], &[], None),
                Some((&["S-1-5-32-544"], &[], false)),
            ),
        ];
        for (r, want) in table {
            let got = token_filter(&r);
            let want = match want {
                None => TokenFilter::Keep,
                Some((d, p, l)) => TokenFilter::Lua {
                    deny: d.iter().map(|s| s.to_string()).collect(),
                    delete: p.iter().map(|s| s.to_string()).collect(),
                    lower_integrity: l,
                },
            };
            assert_eq!(got, want, "{r:?}");
        }
    }

    #[test]
    fn filtered_groups_and_domain_sids() {
        for sid in [
            "S-1-5-32-544",
            "S-1-5-32-551",
            "S-1-5-114",
            "S-1-5-21-1-2-3-512",
            "S-1-5-21-1-2-3-519",
        ] {
            assert!(is_filtered_group(sid), "{sid}");
        }
        for sid in [
            "S-1-5-32-545",
            "S-1-5-113",
            "S-1-5-21-1-2-3-513",
            "S-1-5-21-1-2-3-1512",
            "S-1-1-0",
            "S-1-5-32-5440",
        ] {
            assert!(!is_filtered_group(sid), "{sid}");
        }
        assert_eq!(domain_of_sid("S-1-5-21-1-2-3-1001"), Some("S-1-5-21-1-2-3"));
        assert_eq!(domain_of_sid("S-1-5-21-1-2-3"), None);
        assert_eq!(domain_of_sid("S-1-5-21-1-2-x-5"), None);
        assert_eq!(domain_of_sid("S-1-12-1-1-2-3-4"), None);
        assert_eq!(Elevation::from_raw(2), Some(Elevation::Full));
        assert_eq!(Elevation::from_raw(0), None);
    }
}
