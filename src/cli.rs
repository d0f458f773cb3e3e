//! The command line: `energy-monitor [--config FILE]`, `check-config`, `demo`, `--help`,
//! `--version`.
//!
//! [`run`] parses the arguments, loads the config and dispatches; it returns the process
//! exit code: 0 on success, 2 for bad usage or bad config, 1 for a runtime failure.

use std::path::{Path, PathBuf};

use argh::FromArgs;

use crate::config::{self, Config};
use crate::exit::EXIT_USAGE;

#[derive(FromArgs, Debug)]
/// Monitoring daemon and dashboard for a price-aware home-energy coordinator.
/// Without a subcommand it runs the daemon.
struct Args {
    /// the config file (default: config/energy-monitor.yaml in the working directory)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,

    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    CheckConfig(CheckConfigArgs),
    Demo(DemoArgs),
}

#[derive(FromArgs, Debug)]
/// Validate the config file and print the effective configuration, defaults included.
/// Exits 0 if the file is valid and 2 if not.
#[argh(subcommand, name = "check-config")]
struct CheckConfigArgs {
    /// the config file (default: config/energy-monitor.yaml in the working directory)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
/// Write a coordinator directory full of SYNTHETIC demo data (a simulated inverter, battery
/// and market) and serve it at once, with a config of its own; no inverter or internet needed.
/// Refuses to overwrite a non-empty directory it did not write.
#[argh(subcommand, name = "demo")]
struct DemoArgs {
    /// where to write the demo (default: data/demo)
    #[argh(option, default = "PathBuf::from(\"data/demo\")")]
    dir: PathBuf,

    /// the port to serve on (default: 8080)
    #[argh(option, default = "crate::config::defaults::PORT")]
    port: u16,

    /// days of history to generate (default: 30)
    #[argh(option, default = "30")]
    days: u32,

    /// seed of the simulation; the same seed gives the same data (default: 2026)
    #[argh(option, default = "2026")]
    seed: u64,

    /// only generate the data, do not serve it
    #[argh(switch)]
    no_serve: bool,
}

/// Runs the command line `args` (including the program name) and returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let name = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("energy-monitor")
                .to_string()
        })
        .unwrap_or_else(|| "energy-monitor".into());
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let parsed = match Args::from_args(&[&name], &rest) {
        Ok(a) => a,
        Err(early) => {
            return if early.status.is_ok() {
                println!("{}", early.output);
                0
            } else {
                eprintln!("{}", early.output.trim_end());
                EXIT_USAGE
            };
        }
    };
    if parsed.version {
        println!("energy-monitor {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match parsed.command {
        Some(Command::CheckConfig(c)) => {
            let path = c
                .config
                .or(parsed.config)
                .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
            match Config::load(&path) {
                Ok(cfg) if cfg.prices.tariff_error.is_some() => {
                    // The daemon would run on market + SC prices only; the check fails.
                    if let Some(e) = &cfg.prices.tariff_error {
                        eprintln!("energy-monitor: {e}");
                    }
                    EXIT_USAGE
                }
                Ok(cfg) => {
                    println!("# effective configuration of {}", cfg.file.display());
                    print!("{}", cfg.effective_yaml());
                    0
                }
                Err(e) => {
                    eprintln!("energy-monitor: {e}");
                    EXIT_USAGE
                }
            }
        }
        Some(Command::Demo(d)) => crate::demo::run(crate::demo::Command {
            dir: d.dir,
            port: d.port,
            days: d.days,
            seed: d.seed,
            serve: !d.no_serve,
        }),
        None => {
            let path = parsed
                .config
                .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
            let cfg = match Config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("energy-monitor: {e}");
                    return EXIT_USAGE;
                }
            };
            crate::daemon::run(cfg)
        }
    }
}
