//! The `energy-monitor` binary: parse the command line, hand over to [`energy_monitor::cli::run`],
//! and turn its outcome into the process exit code.

fn main() {
    std::process::exit(energy_monitor::cli::run(std::env::args().collect()));
}
