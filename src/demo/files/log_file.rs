//! A log file in the coordinator's format (`time - logger - level - message`, continuation
//! lines), and one minute's records held and sorted by time before they are written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::*;

/// A log file in the coordinator's format, counting its lines.
pub struct LogFile {
    path: PathBuf,
    out: BufWriter<File>,
    pub lines: usize,
}

impl LogFile {
    pub fn create(path: PathBuf) -> Result<LogFile, DemoError> {
        let f = File::create(&path).map_err(|e| DemoError::io(&path, e))?;
        Ok(LogFile {
            path,
            out: BufWriter::with_capacity(64 * 1024, f),
            lines: 0,
        })
    }

    pub(super) fn line(
        &mut self,
        at: chrono::NaiveDateTime,
        logger: &str,
        level: &str,
        msg: &str,
    ) -> Result<(), DemoError> {
        self.lines += 1;
        writeln!(
            self.out,
            "{} - {logger} - {level} - {msg}",
            rows::log_time(at)
        )
        .map_err(|e| DemoError::io(&self.path, e))
    }

    pub(super) fn continuation(&mut self, lines: &[&str]) -> Result<(), DemoError> {
        for l in lines {
            self.lines += 1;
            writeln!(self.out, "{l}").map_err(|e| DemoError::io(&self.path, e))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(PathBuf, usize), DemoError> {
        self.out.flush().map_err(|e| DemoError::io(&self.path, e))?;
        Ok((self.path, self.lines))
    }
}

/// One minute's log records, sorted by time before they are written.
#[derive(Default)]
pub(super) struct Pending {
    entries: Vec<(
        chrono::NaiveDateTime,
        String,
        &'static str,
        String,
        Vec<String>,
    )>,
}

impl Pending {
    pub(super) fn line(
        &mut self,
        at: chrono::NaiveDateTime,
        logger: &str,
        level: &'static str,
        msg: &str,
    ) -> Result<(), DemoError> {
        self.entries
            .push((at, logger.to_string(), level, msg.to_string(), Vec::new()));
        Ok(())
    }

    /// Continuation lines (a traceback) of the last record.
    pub(super) fn continuation(&mut self, lines: &[&str]) -> Result<(), DemoError> {
        if let Some(last) = self.entries.last_mut() {
            last.4.extend(lines.iter().map(|l| l.to_string()));
        }
        Ok(())
    }

    pub(super) fn write_to(mut self, file: &mut LogFile) -> Result<(), DemoError> {
        self.entries.sort_by_key(|e| e.0);
        for (at, logger, level, msg, cont) in &self.entries {
            file.line(*at, logger, level, msg)?;
            let cont: Vec<&str> = cont.iter().map(String::as_str).collect();
            file.continuation(&cont)?;
        }
        Ok(())
    }
}
