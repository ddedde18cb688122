//! The Windows Event Log (Application log): where a service's story goes on Windows.
//! The service host reports its own start, stop and errors and every supervisor event
//! (child start, exit with code and uptime, restart with its delay, planned restart,
//! give-up) under an event source named after the Windows service.
//!
//! The source is registered the way Go's x/sys `eventlog.InstallAsEventCreate` does
//! (used by kardianos/service and Tailscale): `EventMessageFile` =
//! `%SystemRoot%\System32\EventCreate.exe`, whose message table maps event IDs 1-1000
//! to the single insertion string "%1", so Event Viewer shows our text as is.

use std::io;
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::EventLog::{
    CloseEventLog, DeregisterEventSource, OpenEventLogW, ReadEventLogW, RegisterEventSourceW,
    ReportEventW, EVENTLOGRECORD, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE,
    EVENTLOG_WARNING_TYPE,
};
use winreg::enums::{HKEY_LOCAL_MACHINE, REG_EXPAND_SZ};
use winreg::{RegKey, RegValue};

const SOURCES_KEY: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application";
const MESSAGE_FILE: &str = r"%SystemRoot%\System32\EventCreate.exe";
/// EVENTLOG_BACKWARDS_READ | EVENTLOG_SEQUENTIAL_READ: newest first.
const READ_NEWEST_FIRST: u32 = 0x8 | 0x1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// The event ID of each kind of entry (EventCreate.exe's table covers 1-1000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventId {
    HostStart = 1,
    HostStop = 2,
    Supervisor = 3,
    HostError = 4,
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The value that marks a source as respawn's: a source name another product
/// registered is never overwritten nor deleted (issue 25), as respawn leaves services
/// it did not create alone.
const OWNED_BY: &str = "RespawnOwned";

/// Whether the source key is ours: marked, or made by a respawn from before the mark
/// (our exact message file and types, and nothing else).
fn ours(key: &RegKey) -> bool {
    if key.get_value::<u32, _>(OWNED_BY).is_ok() {
        return true;
    }
    let file: Result<String, _> = key.get_value("EventMessageFile");
    let types: Result<u32, _> = key.get_value("TypesSupported");
    file.is_ok_and(|f| f == MESSAGE_FILE)
        && types.is_ok_and(|t| t == 7)
        && key.enum_values().count() == 2
}

/// Register `source` under the Application log (install; needs admin). A source of
/// that name someone else registered is left as it is, and said.
pub fn register_source(source: &str) -> io::Result<()> {
    let path = format!(r"{SOURCES_KEY}\{source}");
    if let Ok(existing) = RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey(&path) {
        if !ours(&existing) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("another program registered the Event Log source {source:?}; it is left as it is"),
            ));
        }
    }
    let (key, _) = RegKey::predef(HKEY_LOCAL_MACHINE).create_subkey(&path)?;
    let bytes: Vec<u8> = wide(MESSAGE_FILE)
        .iter()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    key.set_raw_value(
        "EventMessageFile",
        &RegValue {
            vtype: REG_EXPAND_SZ,
            bytes: bytes.into(),
        },
    )?;
    // Error | Warning | Information
    key.set_value("TypesSupported", &7u32)?;
    key.set_value(OWNED_BY, &1u32)
}

/// Remove the source at uninstall, only when it is ours; a missing one is fine.
pub fn remove_source(source: &str) -> io::Result<()> {
    let path = format!(r"{SOURCES_KEY}\{source}");
    match RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey(&path) {
        Ok(key) if !ours(&key) => return Ok(()),
        Err(_) => return Ok(()),
        Ok(_) => {}
    }
    match RegKey::predef(HKEY_LOCAL_MACHINE).delete_subkey_all(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub fn source_registered(source: &str) -> bool {
    RegKey::predef(HKEY_LOCAL_MACHINE)
        .open_subkey(format!(r"{SOURCES_KEY}\{source}"))
        .is_ok()
}

/// Write one entry. Failing to log must never stop the service, so callers ignore errors.
pub fn report(source: &str, level: Level, id: EventId, text: &str) -> io::Result<()> {
    let source = wide(source);
    let text = wide(text);
    let kind = match level {
        Level::Info => EVENTLOG_INFORMATION_TYPE,
        Level::Warning => EVENTLOG_WARNING_TYPE,
        Level::Error => EVENTLOG_ERROR_TYPE,
    };
    // SAFETY: NUL-terminated strings that outlive the calls; the handle is closed here.
    unsafe {
        let log = RegisterEventSourceW(std::ptr::null(), source.as_ptr());
        if log.is_null() {
            return Err(io::Error::last_os_error());
        }
        let strings = [text.as_ptr()];
        let ok = ReportEventW(
            log,
            kind,
            0,
            id as u32,
            std::ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            std::ptr::null(),
        );
        let err = io::Error::last_os_error();
        DeregisterEventSource(log);
        if ok == 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// One entry read back: its level, its time (seconds since 1970) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub level: Level,
    pub time: u32,
    pub text: String,
}

struct EventLogHandle(HANDLE);

impl Drop for EventLogHandle {
    fn drop(&mut self) {
        // SAFETY: a handle from OpenEventLogW, closed once.
        unsafe { CloseEventLog(self.0) };
    }
}

/// The newest `max` entries of `source` in the Application log, newest first.
pub fn read_last(source: &str, max: usize) -> io::Result<Vec<Entry>> {
    let log_name = wide("Application");
    // SAFETY: NUL-terminated name; the handle is owned by EventLogHandle.
    let log = unsafe { OpenEventLogW(std::ptr::null(), log_name.as_ptr()) };
    if log.is_null() {
        return Err(io::Error::last_os_error());
    }
    let log = EventLogHandle(log);
    let mut found = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // Bounded: at most this many reads, whatever the log holds.
    for _ in 0..64 {
        let (mut read, mut needed) = (0u32, 0u32);
        // SAFETY: buf is writable for its length; the out-pointers are valid.
        let ok = unsafe {
            ReadEventLogW(
                log.0,
                READ_NEWEST_FIRST,
                0,
                buf.as_mut_ptr().cast(),
                buf.len() as u32,
                &mut read,
                &mut needed,
            )
        };
        if ok == 0 {
            let e = io::Error::last_os_error();
            // ERROR_HANDLE_EOF: no more entries.
            if e.raw_os_error() == Some(38) {
                break;
            }
            return Err(e);
        }
        let mut at = 0usize;
        while at + std::mem::size_of::<EVENTLOGRECORD>() <= read as usize {
            // SAFETY: ReadEventLogW wrote whole records into buf[..read].
            let rec: EVENTLOGRECORD =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            if rec.Length == 0 {
                break;
            }
            let record = &buf[at..(at + rec.Length as usize).min(read as usize)];
            if let Some(e) = parse_record(&rec, record, source) {
                found.push(e);
                if found.len() >= max {
                    return Ok(found);
                }
            }
            at += rec.Length as usize;
        }
    }
    Ok(found)
}

fn utf16_z(bytes: &[u8]) -> (String, usize) {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    let used = (units.len() + 1) * 2;
    (String::from_utf16_lossy(&units), used)
}

/// The source name follows the fixed header; the strings start at StringOffset.
fn parse_record(rec: &EVENTLOGRECORD, record: &[u8], source: &str) -> Option<Entry> {
    let header = std::mem::size_of::<EVENTLOGRECORD>();
    let (name, _) = utf16_z(record.get(header..)?);
    if !name.eq_ignore_ascii_case(source) {
        return None;
    }
    let mut strings = Vec::new();
    let mut at = rec.StringOffset as usize;
    for _ in 0..rec.NumStrings {
        let (s, used) = utf16_z(record.get(at..)?);
        strings.push(s);
        at += used;
    }
    let level = match rec.EventType {
        EVENTLOG_ERROR_TYPE => Level::Error,
        EVENTLOG_WARNING_TYPE => Level::Warning,
        _ => Level::Info,
    };
    Some(Entry {
        level,
        time: rec.TimeGenerated,
        text: strings.join(" "),
    })
}
