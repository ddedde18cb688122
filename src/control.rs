//! What a running supervisor can be asked to do. A leaf module: the OS layer carries
//! these requests, the supervisor acts on them, the client sends them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop the child gracefully and exit.
    Stop,
    /// Stop the child gracefully and start it again at once (not counted as a failure).
    Restart,
    /// The Windows service host heard that the recorded user logged on or off: the
    /// engine plans again where the child runs (issue 15). Never sent by a client.
    SessionChanged,
}

impl Control {
    /// The error for sending a control only the service manager gives (a session
    /// change) to a supervisor, as a client would.
    pub(crate) fn not_from_a_client() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a session change comes from the service manager, not from a client",
        )
    }
}
