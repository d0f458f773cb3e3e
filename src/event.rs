//! The daemon's [`Event`]: what ends its main wait. Signals, the HTTP acceptor and the
//! systemd self-check send one; only the daemon receives.

/// What ends the main wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// SIGTERM or SIGINT (first one).
    Shutdown(&'static str),
    /// SIGHUP: refresh every source now.
    RefreshNow,
    /// Something the daemon cannot continue without (accept loop died, self-check failed).
    Fatal(String),
}
