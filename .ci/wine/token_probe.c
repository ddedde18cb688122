/* token_probe.c: what Wine does with the token / session / security calls that
 * issue 15 (run the child as the installing user) needs. Build and run with
 * .ci/wine/token_probe.sh; the results are written up in docs/wine.md.
 *
 *   token_probe.exe proc LOG       run every probe as an ordinary process
 *   token_probe.exe install LOG    create + start a LocalSystem service (this exe,
 *                                  mode "svc"), wait for it to stop, delete it
 *   token_probe.exe svc LOG        (the service) run every probe, then stop
 *   token_probe.exe child LOG      (spawned through CreateProcessAsUserW) report itself
 */
#define _UNICODE
#define _WIN32_WINNT 0x0601
#include <windows.h>
#include <stdio.h>
#include <wtsapi32.h>
#include <userenv.h>
#include <ntsecapi.h>
#include <sddl.h>
#include <aclapi.h>

#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS 0
#endif

static FILE *out;
static wchar_t self_path[MAX_PATH];
static wchar_t log_path[MAX_PATH];

#define P(...) do { fwprintf(out, __VA_ARGS__); fflush(out); } while (0)

static void result(const wchar_t *what, BOOL ok) {
    DWORD e = GetLastError();
    if (ok) P(L"%ls: ok\n", what);
    else P(L"%ls: FAIL error %lu\n", what, e);
}

static void describe_token(const wchar_t *label, HANDLE tok) {
    BYTE buf[512]; DWORD len = 0;
    if (GetTokenInformation(tok, TokenUser, buf, sizeof buf, &len)) {
        TOKEN_USER *tu = (TOKEN_USER *)buf;
        wchar_t *sid = NULL; ConvertSidToStringSidW(tu->User.Sid, &sid);
        wchar_t name[256], dom[256]; DWORD nl = 256, dl = 256; SID_NAME_USE use;
        BOOL ok = LookupAccountSidW(NULL, tu->User.Sid, name, &nl, dom, &dl, &use);
        P(L"%ls TokenUser: %ls = %ls\\%ls (lookup %ls, use %d)\n", label, sid ? sid : L"?",
          ok ? dom : L"?", ok ? name : L"?", ok ? L"ok" : L"FAIL", (int)use);
        LocalFree(sid);
    } else P(L"%ls TokenUser: FAIL error %lu\n", label, GetLastError());
    DWORD sess = 0xffffffff;
    if (GetTokenInformation(tok, TokenSessionId, &sess, sizeof sess, &len))
        P(L"%ls TokenSessionId: %lu\n", label, sess);
    else P(L"%ls TokenSessionId: FAIL error %lu\n", label, GetLastError());
    TOKEN_ELEVATION_TYPE et = 0;
    if (GetTokenInformation(tok, TokenElevationType, &et, sizeof et, &len))
        P(L"%ls TokenElevationType: %d\n", label, (int)et);
    else P(L"%ls TokenElevationType: FAIL error %lu\n", label, GetLastError());
    TOKEN_STATISTICS st;
    if (GetTokenInformation(tok, TokenStatistics, &st, sizeof st, &len))
        P(L"%ls TokenStatistics: type %d, logon id %lu:%ld\n", label, (int)st.TokenType,
          st.AuthenticationId.LowPart, st.AuthenticationId.HighPart);
    else P(L"%ls TokenStatistics: FAIL error %lu\n", label, GetLastError());
    TOKEN_SOURCE src;
    if (GetTokenInformation(tok, TokenSource, &src, sizeof src, &len))
        P(L"%ls TokenSource: %.8hs\n", label, src.SourceName);
    else P(L"%ls TokenSource: FAIL error %lu\n", label, GetLastError());
}

static void probe_sessions(void) {
    P(L"WTSGetActiveConsoleSessionId: %lu\n", WTSGetActiveConsoleSessionId());
    DWORD ps = 0xffffffff;
    result(L"ProcessIdToSessionId", ProcessIdToSessionId(GetCurrentProcessId(), &ps));
    P(L"  own session: %lu\n", ps);
    WTS_SESSION_INFOW *s = NULL; DWORD n = 0;
    SetLastError(0);
    BOOL ok = WTSEnumerateSessionsW(WTS_CURRENT_SERVER_HANDLE, 0, 1, &s, &n);
    result(L"WTSEnumerateSessionsW", ok);
    if (ok) {
        P(L"  count %lu\n", n);
        for (DWORD i = 0; i < n; i++)
            P(L"  session %lu name '%ls' state %d\n", s[i].SessionId,
              s[i].pWinStationName ? s[i].pWinStationName : L"(null)", (int)s[i].State);
        WTSFreeMemory(s);
    }
    LPWSTR user = NULL; DWORD ul = 0;
    ok = WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE, WTSGetActiveConsoleSessionId(), WTSUserName, &user, &ul);
    result(L"WTSQuerySessionInformationW(console, WTSUserName)", ok);
    if (ok) { P(L"  user '%ls'\n", user); WTSFreeMemory(user); }
    HANDLE ut = NULL;
    SetLastError(0);
    ok = WTSQueryUserToken(WTSGetActiveConsoleSessionId(), &ut);
    result(L"WTSQueryUserToken(console session)", ok);
    if (ok) { describe_token(L"  user token", ut); CloseHandle(ut); }
    ok = WTSQueryUserToken(1, &ut);
    result(L"WTSQueryUserToken(1)", ok);
    if (ok) CloseHandle(ut);
}

static HANDLE primary_copy(HANDLE tok) {
    HANDLE dup = NULL;
    BOOL ok = DuplicateTokenEx(tok, MAXIMUM_ALLOWED, NULL, SecurityImpersonation, TokenPrimary, &dup);
    result(L"DuplicateTokenEx(primary)", ok);
    return ok ? dup : NULL;
}

static void probe_spawn(HANDLE primary) {
    /* environment block for the token */
    void *env = NULL;
    BOOL ok = CreateEnvironmentBlock(&env, primary, FALSE);
    result(L"CreateEnvironmentBlock(token, FALSE)", ok);
    if (ok) {
        int count = 0;
        for (wchar_t *p = env; *p; p += wcslen(p) + 1) {
            count++;
            if (!_wcsnicmp(p, L"USERPROFILE=", 12) || !_wcsnicmp(p, L"APPDATA=", 8) ||
                !_wcsnicmp(p, L"LOCALAPPDATA=", 13) || !_wcsnicmp(p, L"USERNAME=", 9) ||
                !_wcsnicmp(p, L"TEMP=", 5))
                P(L"  %ls\n", p);
        }
        P(L"  (%d variables)\n", count);
    }
    /* profile */
    wchar_t uname[256]; DWORD unl = 256; GetUserNameW(uname, &unl);
    PROFILEINFOW pi = { sizeof pi };
    pi.dwFlags = PI_NOUI;
    pi.lpUserName = uname;
    SetLastError(0);
    ok = LoadUserProfileW(primary, &pi);
    result(L"LoadUserProfileW", ok);
    if (ok) P(L"  hProfile %p\n", pi.hProfile);
    wchar_t pdir[MAX_PATH]; DWORD pdl = MAX_PATH;
    ok = GetUserProfileDirectoryW(primary, pdir, &pdl);
    result(L"GetUserProfileDirectoryW", ok);
    if (ok) P(L"  %ls\n", pdir);

    /* job + CreateProcessAsUserW */
    HANDLE job = CreateJobObjectW(NULL, NULL);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION li = {0};
    li.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    SetInformationJobObject(job, JobObjectExtendedLimitInformation, &li, sizeof li);

    SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
    HANDLE rd, wr;
    CreatePipe(&rd, &wr, &sa, 0);
    SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);

    wchar_t cmd[2 * MAX_PATH + 64];
    swprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" child \"%ls.child\"", self_path, log_path);
    STARTUPINFOW si = { sizeof si };
    si.lpDesktop = L"winsta0\\default";
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = INVALID_HANDLE_VALUE; si.hStdOutput = wr; si.hStdError = wr;
    PROCESS_INFORMATION pinfo;
    SetLastError(0);
    ok = CreateProcessAsUserW(primary, NULL, cmd, NULL, NULL, TRUE,
                              CREATE_SUSPENDED | CREATE_NO_WINDOW | CREATE_UNICODE_ENVIRONMENT,
                              env, L"C:\\", &si, &pinfo);
    result(L"CreateProcessAsUserW(suspended, no window, unicode env, winsta0\\default)", ok);
    CloseHandle(wr);
    if (ok) {
        result(L"  AssignProcessToJobObject", AssignProcessToJobObject(job, pinfo.hProcess));
        BOOL inj = FALSE; IsProcessInJob(pinfo.hProcess, job, &inj);
        P(L"  IsProcessInJob: %d\n", inj);
        ResumeThread(pinfo.hThread);
        char buf[4096]; DWORD got, total = 0;
        while (ReadFile(rd, buf + total, sizeof buf - 1 - total, &got, NULL) && got) total += got;
        buf[total] = 0;
        WaitForSingleObject(pinfo.hProcess, 10000);
        DWORD code = 99; GetExitCodeProcess(pinfo.hProcess, &code);
        P(L"  child exit %lu, its stdout:\n%hs", code, buf);
        HANDLE ct;
        if (OpenProcessToken(pinfo.hProcess, TOKEN_QUERY, &ct)) {
            describe_token(L"  child token (read back)", ct); CloseHandle(ct);
        }
        CloseHandle(pinfo.hProcess); CloseHandle(pinfo.hThread);
    }
    CloseHandle(rd);
    if (env) result(L"DestroyEnvironmentBlock", DestroyEnvironmentBlock(env));
    if (pi.hProfile) result(L"UnloadUserProfile", UnloadUserProfile(primary, pi.hProfile));
    CloseHandle(job);

    /* impersonation */
    ok = ImpersonateLoggedOnUser(primary);
    result(L"ImpersonateLoggedOnUser", ok);
    if (ok) {
        HANDLE th;
        BOOL t = OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &th);
        result(L"  OpenThreadToken while impersonating", t);
        if (t) CloseHandle(th);
        result(L"RevertToSelf", RevertToSelf());
    }
}

static void probe_lsa(void) {
    HANDLE lsa = NULL; LSA_OPERATIONAL_MODE mode;
    LSA_STRING name; char nm[] = "respawn";
    name.Buffer = nm; name.Length = 7; name.MaximumLength = 8;
    NTSTATUS st = LsaRegisterLogonProcess(&name, &lsa, &mode);
    P(L"LsaRegisterLogonProcess: NTSTATUS 0x%08lx\n", (unsigned long)st);
    if (st != STATUS_SUCCESS) {
        st = LsaConnectUntrusted(&lsa);
        P(L"LsaConnectUntrusted: NTSTATUS 0x%08lx\n", (unsigned long)st);
        if (st != STATUS_SUCCESS) return;
    }
    LSA_STRING pkg; char pn[] = MSV1_0_PACKAGE_NAME;
    pkg.Buffer = pn; pkg.Length = (USHORT)strlen(pn); pkg.MaximumLength = pkg.Length + 1;
    ULONG pkgid = 0;
    st = LsaLookupAuthenticationPackage(lsa, &pkg, &pkgid);
    P(L"LsaLookupAuthenticationPackage(MSV1_0): NTSTATUS 0x%08lx id %lu\n", (unsigned long)st, pkgid);
    /* MSV1_0_S4U_LOGON for the current user, strings packed after the struct */
    wchar_t uname[256]; DWORD unl = 256; GetUserNameW(uname, &unl);
    wchar_t dom[256]; DWORD dl = 256; GetComputerNameW(dom, &dl);
    ULONG ulen = (ULONG)wcslen(uname) * 2, dlen = (ULONG)wcslen(dom) * 2;
    ULONG size = sizeof(MSV1_0_S4U_LOGON) + ulen + dlen;
    MSV1_0_S4U_LOGON *s4u = calloc(1, size);
    s4u->MessageType = MsV1_0S4ULogon;
    s4u->UserPrincipalName.Buffer = (PWSTR)(s4u + 1);
    s4u->UserPrincipalName.Length = s4u->UserPrincipalName.MaximumLength = (USHORT)ulen;
    memcpy(s4u->UserPrincipalName.Buffer, uname, ulen);
    s4u->DomainName.Buffer = (PWSTR)((BYTE *)(s4u + 1) + ulen);
    s4u->DomainName.Length = s4u->DomainName.MaximumLength = (USHORT)dlen;
    memcpy(s4u->DomainName.Buffer, dom, dlen);
    TOKEN_SOURCE src; memcpy(src.SourceName, "respawn\0", 8); AllocateLocallyUniqueId(&src.SourceIdentifier);
    LSA_STRING origin; char on[] = "respawn"; origin.Buffer = on; origin.Length = 7; origin.MaximumLength = 8;
    void *prof = NULL; ULONG profl = 0; LUID lid; HANDLE tok = NULL; QUOTA_LIMITS q; NTSTATUS sub = 0;
    st = LsaLogonUser(lsa, &origin, Network, pkgid, s4u, size, NULL, &src, &prof, &profl, &lid, &tok, &q, &sub);
    P(L"LsaLogonUser(MSV1_0_S4U_LOGON %ls\\%ls): NTSTATUS 0x%08lx sub 0x%08lx\n", dom, uname,
      (unsigned long)st, (unsigned long)sub);
    if (st == STATUS_SUCCESS) { describe_token(L"  s4u token", tok); CloseHandle(tok); LsaFreeReturnBuffer(prof); }
    free(s4u);
    LsaDeregisterLogonProcess(lsa);
}

static void probe_lookup(void) {
    BYTE sid[SECURITY_MAX_SID_SIZE]; DWORD sl = sizeof sid; wchar_t dom[256]; DWORD dl = 256; SID_NAME_USE use;
    BOOL ok = LookupAccountNameW(NULL, L"Administrators", sid, &sl, dom, &dl, &use);
    result(L"LookupAccountNameW(Administrators)", ok);
    if (ok) { wchar_t *s; ConvertSidToStringSidW(sid, &s); P(L"  %ls domain '%ls' use %d\n", s, dom, (int)use); LocalFree(s); }
    wchar_t uname[256]; DWORD unl = 256; GetUserNameW(uname, &unl);
    P(L"GetUserNameW: %ls\n", uname);
    sl = sizeof sid; dl = 256;
    ok = LookupAccountNameW(NULL, uname, sid, &sl, dom, &dl, &use);
    result(L"LookupAccountNameW(own name)", ok);
    if (ok) { wchar_t *s; ConvertSidToStringSidW(sid, &s); P(L"  %ls domain '%ls' use %d\n", s, dom, (int)use); LocalFree(s); }
    wchar_t full[600]; wchar_t cn[256]; DWORD cl = 256; GetComputerNameW(cn, &cl);
    swprintf(full, 600, L"%ls\\%ls", cn, uname);
    sl = sizeof sid; dl = 256;
    ok = LookupAccountNameW(NULL, full, sid, &sl, dom, &dl, &use);
    result(L"LookupAccountNameW(COMPUTER\\own name)", ok);
    sl = sizeof sid; dl = 256;
    ok = LookupAccountNameW(NULL, L"SYSTEM", sid, &sl, dom, &dl, &use);
    result(L"LookupAccountNameW(SYSTEM)", ok);
    if (ok) { wchar_t *s; ConvertSidToStringSidW(sid, &s); P(L"  %ls domain '%ls'\n", s, dom); LocalFree(s); }
    sl = sizeof sid; dl = 256;
    ok = LookupAccountNameW(NULL, L"nosuchuser-xyz", sid, &sl, dom, &dl, &use);
    result(L"LookupAccountNameW(nosuchuser-xyz)", ok);
}

static void probe_acl(HANDLE tok) {
    wchar_t dir[MAX_PATH]; swprintf(dir, MAX_PATH, L"C:\\tokprobe-%lu", GetCurrentProcessId());
    CreateDirectoryW(dir, NULL);
    wchar_t file[MAX_PATH]; swprintf(file, MAX_PATH, L"%ls\\f.txt", dir);
    HANDLE f = CreateFileW(file, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL); CloseHandle(f);
    PSECURITY_DESCRIPTOR sd0 = NULL; PACL dacl0 = NULL;
    DWORD r = GetNamedSecurityInfoW(file, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION, NULL, NULL, &dacl0, NULL, &sd0);
    P(L"GetNamedSecurityInfoW(new file): %lu\n", r);
    if (r == 0) { wchar_t *s; ConvertSecurityDescriptorToStringSecurityDescriptorW(sd0, SDDL_REVISION_1, DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION, &s, NULL); P(L"  before: %ls\n", s); LocalFree(s); LocalFree(sd0); }

    const wchar_t *sddl = L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FR;;;S-1-5-21-1-2-3-1001)";
    PSECURITY_DESCRIPTOR sd = NULL;
    BOOL ok = ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL);
    result(L"ConvertStringSecurityDescriptorToSecurityDescriptorW", ok);
    BOOL present, def; PACL dacl = NULL;
    GetSecurityDescriptorDacl(sd, &present, &dacl, &def);
    r = SetNamedSecurityInfoW(file, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, NULL, NULL, dacl, NULL);
    P(L"SetNamedSecurityInfoW(protected DACL): %lu\n", r);
    r = SetNamedSecurityInfoW(dir, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, NULL, NULL, dacl, NULL);
    P(L"SetNamedSecurityInfoW(dir, protected DACL): %lu\n", r);
    PSECURITY_DESCRIPTOR sd2 = NULL; PACL dacl2 = NULL;
    r = GetNamedSecurityInfoW(file, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl2, NULL, &sd2);
    P(L"GetNamedSecurityInfoW(read back): %lu\n", r);
    if (r == 0) {
        wchar_t *s; ConvertSecurityDescriptorToStringSecurityDescriptorW(sd2, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &s, NULL);
        P(L"  after: %ls\n", s); LocalFree(s);
        SECURITY_DESCRIPTOR_CONTROL c; DWORD rev; GetSecurityDescriptorControl(sd2, &c, &rev);
        P(L"  control 0x%04x (SE_DACL_PROTECTED=0x1000)\n", c);
    }
    /* a file created inside the protected dir: inherited? */
    wchar_t file2[MAX_PATH]; swprintf(file2, MAX_PATH, L"%ls\\g.txt", dir);
    f = CreateFileW(file2, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL); CloseHandle(f);
    PSECURITY_DESCRIPTOR sd3 = NULL; PACL d3;
    r = GetNamedSecurityInfoW(file2, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &d3, NULL, &sd3);
    if (r == 0) { wchar_t *s; ConvertSecurityDescriptorToStringSecurityDescriptorW(sd3, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &s, NULL); P(L"  new file in dir: %ls\n", s ? s : L"(null)"); LocalFree(s); LocalFree(sd3); }
    /* can we still write it? (we are admin and owner) */
    f = CreateFileW(file, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    P(L"open for write after protect: %ls (error %lu)\n", f != INVALID_HANDLE_VALUE ? L"ok" : L"FAIL", GetLastError());
    if (f != INVALID_HANDLE_VALUE) CloseHandle(f);

    /* AccessCheck against the SD read back, and against one that grants us nothing */
    HANDLE imp = NULL;
    ok = DuplicateToken(tok, SecurityImpersonation, &imp);
    result(L"DuplicateToken(impersonation)", ok);
    GENERIC_MAPPING gm = { FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE, FILE_ALL_ACCESS };
    const wchar_t *cases[][2] = {
        { L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;S-1-5-21-1-2-3-1001)", L"admin-only (we are admin)" },
        { L"O:BAG:BAD:P(A;;FA;;;SY)(A;;FR;;;S-1-5-21-1-2-3-1001)", L"SYSTEM only" },
        { L"O:BAG:BAD:P(A;;FA;;;SY)(A;;FA;;;BU)", L"Users full" },
        { L"O:BAG:BAD:P(A;;FA;;;SY)(A;;FA;;;AU)", L"Authenticated Users full" },
        { L"O:BAG:BAD:P(A;;FR;;;WD)", L"Everyone read" },
        { L"O:BAG:BAD:", L"empty DACL" },
    };
    for (int i = 0; i < 6; i++) {
        PSECURITY_DESCRIPTOR csd = NULL;
        ConvertStringSecurityDescriptorToSecurityDescriptorW(cases[i][0], SDDL_REVISION_1, &csd, NULL);
        if (i == 0) { /* add owner/group so AccessCheck accepts it */
            LocalFree(csd);
            ConvertStringSecurityDescriptorToSecurityDescriptorW(L"O:BAG:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;S-1-5-21-1-2-3-1001)", SDDL_REVISION_1, &csd, NULL);
        }
        DWORD want = FILE_GENERIC_WRITE; MapGenericMask(&want, &gm);
        PRIVILEGE_SET ps; DWORD psl = sizeof ps; DWORD granted = 0; BOOL status = FALSE;
        SetLastError(0);
        ok = AccessCheck(csd, imp, want, &gm, &ps, &psl, &granted, &status);
        P(L"AccessCheck(write, %ls): call %ls (error %lu), access %ls, granted 0x%lx\n", cases[i][1],
          ok ? L"ok" : L"FAIL", ok ? 0 : GetLastError(), status ? L"GRANTED" : L"denied", granted);
        LocalFree(csd);
    }
    /* Does the file system enforce a DACL? Deny ourselves write explicitly. */
    PSECURITY_DESCRIPTOR dsd = NULL;
    ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P(A;;FR;;;WD)", SDDL_REVISION_1, &dsd, NULL);
    GetSecurityDescriptorDacl(dsd, &present, &dacl, &def);
    r = SetNamedSecurityInfoW(file2, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, NULL, NULL, dacl, NULL);
    f = CreateFileW(file2, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    P(L"file with DACL 'Everyone read' opened for write: %ls (error %lu)\n", f != INVALID_HANDLE_VALUE ? L"ALLOWED (not enforced)" : L"denied", GetLastError());
    if (f != INVALID_HANDLE_VALUE) CloseHandle(f);
    /* MoveFileEx REPLACE_EXISTING onto a running exe's renamed-aside path */
    LocalFree(sd); LocalFree(dsd);
}

static void run_all(const wchar_t *who) {
    P(L"==== %ls (pid %lu) ====\n", who, GetCurrentProcessId());
    HANDLE tok = NULL;
    BOOL ok = OpenProcessToken(GetCurrentProcess(), TOKEN_ALL_ACCESS, &tok);
    result(L"OpenProcessToken(TOKEN_ALL_ACCESS)", ok);
    if (!ok) return;
    describe_token(L"own", tok);
    probe_sessions();
    probe_lookup();
    HANDLE primary = primary_copy(tok);
    if (primary) { probe_spawn(primary); CloseHandle(primary); }
    probe_lsa();
    probe_acl(tok);
    CloseHandle(tok);
    P(L"==== done ====\n");
}

/* ---- the service side ---- */
static SERVICE_STATUS_HANDLE ssh;
static SERVICE_STATUS sst;
static HANDLE stop_ev;
static DWORD WINAPI handler(DWORD ctl, DWORD type, LPVOID data, LPVOID ctx) {
    P(L"handler: control %lu event type %lu\n", ctl, type);
    if (ctl == SERVICE_CONTROL_SESSIONCHANGE) {
        WTSSESSION_NOTIFICATION *n = data;
        P(L"  SESSIONCHANGE reason %lu session %lu\n", type, n ? n->dwSessionId : 0);
        return NO_ERROR;
    }
    if (ctl == SERVICE_CONTROL_STOP) { SetEvent(stop_ev); return NO_ERROR; }
    if (ctl == SERVICE_CONTROL_INTERROGATE) return NO_ERROR;
    if (ctl >= 128) return NO_ERROR;
    return ERROR_CALL_NOT_IMPLEMENTED;
}
static void WINAPI svc_main(DWORD argc, LPWSTR *argv) {
    stop_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    ssh = RegisterServiceCtrlHandlerExW(L"", handler, NULL);
    sst.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    sst.dwCurrentState = SERVICE_RUNNING;
    sst.dwControlsAccepted = SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SESSIONCHANGE;
    result(L"SetServiceStatus(RUNNING, accepts STOP|SESSIONCHANGE)", SetServiceStatus(ssh, &sst));
    run_all(L"service");
    P(L"waiting for controls (stop ends)\n");
    WaitForSingleObject(stop_ev, 20000);
    sst.dwCurrentState = SERVICE_STOPPED;
    SetServiceStatus(ssh, &sst);
}

static int install(void) {
    SC_HANDLE m = OpenSCManagerW(NULL, NULL, SC_MANAGER_ALL_ACCESS);
    wchar_t cmd[2 * MAX_PATH + 32];
    swprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" svc \"%ls\"", self_path, log_path);
    wchar_t name[64]; swprintf(name, 64, L"TokProbe%lu", GetCurrentProcessId());
    SC_HANDLE s = CreateServiceW(m, name, name, SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                                 SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL, NULL);
    if (!s) { P(L"CreateServiceW: FAIL %lu\n", GetLastError()); return 1; }
    result(L"StartServiceW", StartServiceW(s, 0, NULL));
    SERVICE_STATUS st;
    for (int i = 0; i < 200; i++) {   /* wait until the service finished its probes */
        Sleep(100);
        QueryServiceStatus(s, &st);
        FILE *f = _wfopen(log_path, L"r");
        if (f) { char b[65536]; size_t n = fread(b, 1, sizeof b - 1, f); b[n] = 0; fclose(f);
                 if (strstr(b, "waiting for controls")) break; }
    }
    SetLastError(0);
    BOOL ok = ControlService(s, SERVICE_CONTROL_SESSIONCHANGE, &st);
    P(L"client ControlService(SERVICE_CONTROL_SESSIONCHANGE=14): %ls error %lu\n", ok ? L"ok" : L"FAIL", ok ? 0 : GetLastError());
    ok = ControlService(s, 200, &st);
    P(L"client ControlService(user control 200): %ls error %lu\n", ok ? L"ok" : L"FAIL", ok ? 0 : GetLastError());
    Sleep(300);
    ControlService(s, SERVICE_CONTROL_STOP, &st);
    for (int i = 0; i < 50 && QueryServiceStatus(s, &st) && st.dwCurrentState != SERVICE_STOPPED; i++) Sleep(100);
    DeleteService(s);
    CloseServiceHandle(s); CloseServiceHandle(m);
    return 0;
}

int wmain(int argc, wchar_t **argv) {
    GetModuleFileNameW(NULL, self_path, MAX_PATH);
    if (argc < 3) { fwprintf(stderr, L"usage: proc|install|svc|child LOG\n"); return 2; }
    wcscpy(log_path, argv[2]);
    if (!wcscmp(argv[1], L"child")) {
        /* report to stdout (the pipe) */
        out = stdout;
        HANDLE tok; OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok);
        describe_token(L"    child self", tok);
        wchar_t v[512];
        P(L"    USERPROFILE=%ls\n", GetEnvironmentVariableW(L"USERPROFILE", v, 512) ? v : L"(unset)");
        P(L"    console window: %p\n", GetConsoleWindow());
        wchar_t d[MAX_PATH]; GetCurrentDirectoryW(MAX_PATH, d); P(L"    cwd=%ls\n", d);
        return 7;
    }
    const wchar_t *mode = argv[1];
    out = _wfopen(log_path, !wcscmp(mode, L"install") ? L"a" : L"a");
    if (!out) return 3;
    if (!wcscmp(mode, L"proc")) { run_all(L"ordinary process"); return 0; }
    if (!wcscmp(mode, L"install")) return install();
    if (!wcscmp(mode, L"svc")) {
        SERVICE_TABLE_ENTRYW t[] = { { L"", svc_main }, { NULL, NULL } };
        if (!StartServiceCtrlDispatcherW(t)) P(L"StartServiceCtrlDispatcherW: FAIL %lu\n", GetLastError());
        return 0;
    }
    return 2;
}
