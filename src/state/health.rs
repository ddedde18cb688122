//! The health fields of the state file: what the supervisor's health machine last
//! knew, as `status` reads it. Data only; the machine is [`crate::supervisor::health`].

use serde::{Deserialize, Serialize};

/// The last probe, as the state file and `status` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub at: String,
    pub ok: bool,
    pub detail: String,
}

/// Health fields of the state file (flattened into it; absent in old files).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthState {
    /// Whether the current child is ready (see `[health] ready`).
    pub ready: bool,
    /// `None` until a probe has answered (or with no probe).
    pub healthy: Option<bool>,
    pub last_probe: Option<ProbeRecord>,
    /// The child's own words, from sd_notify `STATUS=`.
    pub notify_status: Option<String>,
    /// The child's main process as it said over sd_notify `MAINPID=` (checked to be in
    /// its tree). The state's own `main_pid` comes from the spec's `pid_file`.
    pub notify_main_pid: Option<u32>,
    /// Why the supervisor last stopped a child as hung or unhealthy, and when.
    pub last_failure: Option<String>,
    pub last_failure_at: Option<String>,
}
