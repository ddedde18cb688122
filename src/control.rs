//! What a running supervisor can be asked to do. A leaf module: the OS layer carries
//! these requests, the supervisor acts on them, the client sends them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop the child gracefully and exit.
    Stop,
    /// Stop the child gracefully and start it again at once (not counted as a failure).
    Restart,
}
