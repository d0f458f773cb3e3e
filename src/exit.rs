//! The process exit codes every command returns: 0 on success, [`EXIT_USAGE`] for bad usage
//! or a bad config file, [`EXIT_FAILURE`] for a failure while running.

/// Exit code for bad usage or a bad config file.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for a failure while running.
pub const EXIT_FAILURE: i32 = 1;
