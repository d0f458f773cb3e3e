//! The `log` backend: one line per event on stderr.
//!
//! Under systemd (when `JOURNAL_STREAM` is set) each line starts with the syslog priority in
//! angle brackets (`<3>` for errors, `<4>` warnings, `<6>` info, `<7>` debug), which journald
//! turns into the entry's priority, and the timestamp is left to the journal. Elsewhere each
//! line carries a UTC timestamp and the level.

use std::io::Write;

struct StderrLogger {
    journal: bool,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = record.level();
        let line = if self.journal {
            let prio = match level {
                log::Level::Error => 3,
                log::Level::Warn => 4,
                log::Level::Info => 6,
                log::Level::Debug | log::Level::Trace => 7,
            };
            format!("<{prio}>{}\n", record.args())
        } else {
            format!(
                "{} {:5} {}\n",
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                level,
                record.args()
            )
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the logger once; later calls only change the level.
pub fn init(level: log::LevelFilter) {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let _ = log::set_boxed_logger(Box::new(StderrLogger { journal }));
    log::set_max_level(level);
}
