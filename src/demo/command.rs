//! The `energy-monitor demo` command: generate, print what was written, then serve the
//! directory (with the live writer) until a signal.

use super::*;

/// The `energy-monitor demo` command's settings.
#[derive(Debug, Clone)]
pub struct Command {
    pub dir: PathBuf,
    pub port: u16,
    pub days: u32,
    pub seed: u64,
    /// Serve after generating (with the live writer).
    pub serve: bool,
}

/// Runs `energy-monitor demo`: generate, print what was written, then serve until a signal.
/// Returns the process exit code.
pub fn run(cmd: Command) -> i32 {
    let options = Options {
        days: cmd.days,
        seed: cmd.seed,
        port: cmd.port,
        ..Options::default()
    };
    let summary = match generate(&cmd.dir, &options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("energy-monitor demo: {e}");
            return if e.is_usage() {
                crate::exit::EXIT_USAGE
            } else {
                crate::exit::EXIT_FAILURE
            };
        }
    };
    println!("{summary}");
    if !cmd.serve {
        return 0;
    }
    let config = match Config::load(&summary.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("energy-monitor demo: {e}");
            return crate::exit::EXIT_USAGE;
        }
    };
    println!(
        "Serving the demo at {}: the dashboard, and JSON routes such as /status; Ctrl-C stops it.\n\
         While it runs, a new reading is added every minute. Config: {}",
        summary.url(),
        summary.config.display()
    );
    let writer = match live::spawn(summary.database.clone(), summary.resume) {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!("energy-monitor demo: the live writer did not start ({e}); serving the data as generated");
            None
        }
    };
    let code = crate::daemon::run(config);
    if let Some(w) = writer {
        w.stop();
    }
    code
}
