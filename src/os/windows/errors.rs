//! Windows error codes respawn acts on, and how to read them out of a windows-service
//! error: in one place, for the SCM backend, the service host and doctor.

pub const ERROR_ACCESS_DENIED: i32 = 5;
pub const ERROR_INVALID_LEVEL: i32 = 124;
pub const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
pub const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
pub const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
pub const ERROR_DUPLICATE_SERVICE_NAME: i32 = 1078;

/// The OS error code inside a windows-service error, if it wraps one.
pub fn os_code(e: &windows_service::Error) -> Option<i32> {
    match e {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

/// A windows-service error with the OS error it wraps, which its Display leaves out.
pub fn win_error(e: &windows_service::Error) -> String {
    match e {
        windows_service::Error::Winapi(io) => io.to_string(),
        other => other.to_string(),
    }
}
