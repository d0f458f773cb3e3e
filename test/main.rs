//! Integration tests: the real binary on an ephemeral port, with real files in temp dirs.

mod util;

mod cli;
mod daemon;
mod prices;
