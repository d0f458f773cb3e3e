//! Integration tests: the real binary on an ephemeral port, with real files in temp dirs.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a panic is the failure report"
)]

mod browser_util;
mod util;

mod browser;
mod cli;
mod coordinator;
mod daemon;
mod delivery;
mod demo;
mod http;
mod logs;
mod prices;
mod prometheus;
mod tidy;
