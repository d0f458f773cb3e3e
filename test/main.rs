//! Integration tests: the real binary on an ephemeral port, with real files in temp dirs.

mod browser_util;
mod util;

mod browser;
mod cli;
mod daemon;
mod prices;
