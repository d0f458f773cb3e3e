//! The journal source: the coordinator's systemd journal, read with `journalctl` on the
//! source's own lane every `logs.journal_refresh_seconds`, so that no request ever starts a
//! process.
//!
//! `journalctl -u <coordinator.systemd_unit> --output=short-iso -n <logs.max_lines>
//! --no-pager` is run from an argument vector (never a shell) with a timeout. When it is
//! missing, fails, times out or finds no journal at all, the refresh fails with the reason
//! and the source shows as `unavailable` in `/status` until a run succeeds.
//!
//! Two views are prepared from the lines read, following the original server:
//! - `journal`: web-server noise dropped, then only lines naming a coordinator activity;
//! - `summary`: web-server noise dropped, the key events kept, the journal prefix removed
//!   from the coordinator's own lines, and exact duplicates removed (first one kept).
//!
//! `journalctl` is not run again while journald's files are unchanged: before a run the
//! source takes `stat`s of the journal directories ([`JOURNAL_ROOTS`]) and their files, and
//! when they equal those of the last successful run (and were written more than
//! [`RACY`] before), it returns that run's data. journald marks every append by
//! truncating the file to its own size, which sets its mtime, so a new entry always shows.
//! When a directory cannot be listed, or `journalctl` on `PATH` is not the system's
//! ([`SYSTEM_JOURNALCTL`]: another program of that name may read anything), there is no
//! such check, and it runs each time.
//!
//! A machine without any journal (journald not running, or a container) is how the
//! machine is, not a fault that may pass: after `journalctl` says it found none, the
//! source asks again only every [`ABSENT_INTERVALS`] intervals (five minutes by default)
//! instead of on the back-off of a failure, so its failure count does not rebuild
//! `/status` twice a minute.
//!
//! All matching is literal substring matching; an entry written `A … B` in the original's
//! list as a regular expression is matched as "contains A, and B after it".

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use crate::refresh::{RefreshContext, Refreshed, Source, SourceError, SourceId, SourceResult};
use crate::sources::log_text::record::{self, Level, Record};

/// How long one `journalctl` run may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// After `journalctl` found no journal at all, the next run is this many intervals later.
pub const ABSENT_INTERVALS: u32 = 10;
/// At most this much of `journalctl`'s output is read.
const OUTPUT_CAP: u64 = 32 * 1024 * 1024;

/// Lines of the web server itself (the original ran inside the coordinator's unit).
pub const NOISE: &[&str] = &[
    "werkzeug",
    "GET /",
    "POST /",
    "PUT /",
    "DELETE /",
    "HTTP/1.1",
    "127.0.0.1",
    "192.168.",
    "Address already in use",
    "Port 8080 is in use",
];

/// `file=journal` keeps lines containing one of these.
pub const JOURNAL_KEEP: &[&[&str]] = &[
    &["Master Coordinator"],
    &["Data collected successfully"],
    &["Fetched"],
    &["CSDAC price points"],
    &["Decision made"],
    &["Executing decision"],
    &["Status - State:"],
    &["Battery:"],
    &["PV:"],
    &["Charging:"],
    &["Initializing"],
    &["Connected to inverter"],
    &["GoodWe"],
    &["Price Analyzer"],
    &["Charging Controller"],
    &["Decision Engine"],
    &["coordination loop"],
    &["health check"],
    &["emergency"],
    &["ERROR"],
    &["WARNING"],
];

/// `file=summary` keeps lines containing one of these; a multi-part entry needs its parts
/// in order.
pub const SUMMARY_KEEP: &[&[&str]] = &[
    &["Data collected successfully"],
    &["Fetched", "CSDAC price points"],
    &["Decision made:"],
    &["Executing decision:"],
    &["Status - State:"],
    &["Battery:"],
    &["PV:"],
    &["Charging:"],
    &["Connected to inverter"],
    &["Initializing", "Coordinator"],
    &["ERROR"],
    &["WARNING"],
    &["emergency"],
    &["Failed to"],
    &["Successfully connected"],
];

/// Lines with their records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JournalView {
    pub lines: Vec<String>,
    pub records: Vec<Record>,
}

impl JournalView {
    fn new(lines: Vec<String>) -> JournalView {
        let records = record::group(&lines, journal_header_level);
        JournalView { lines, records }
    }
}

/// What one successful run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalData {
    pub unit: String,
    /// Journal lines read (journalctl's own `-- … --` marker lines not counted).
    pub raw_lines: usize,
    /// True when fewer lines than asked for came back: that is the unit's whole journal.
    pub complete: bool,
    pub journal: JournalView,
    pub summary: JournalView,
    pub read_at: DateTime<Utc>,
}

/// The level of a journal line: the coordinator's header after the `unit[pid]: ` prefix,
/// or at the start of a line whose prefix was removed.
pub fn journal_header_level(line: &str) -> Option<Level> {
    record::header_level(line).or_else(|| {
        let (_, message) = line.split_once("]: ")?;
        record::header_level(message)
    })
}

/// Whether `line` contains the parts of `entry`, in order.
fn matches_entry(line: &str, entry: &[&str]) -> bool {
    let mut rest = line;
    for part in entry {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

fn keeps(line: &str, list: &[&[&str]]) -> bool {
    list.iter().any(|e| matches_entry(line, e))
}

fn is_noise(line: &str) -> bool {
    NOISE.iter().any(|n| line.contains(n))
}

/// Builds both views from `journalctl`'s output.
pub fn parse(output: &str, unit: &str, asked: usize, read_at: DateTime<Utc>) -> JournalData {
    let raw: Vec<&str> = output
        .lines()
        .filter(|l| !(l.starts_with("-- ") && l.ends_with(" --")))
        .collect();
    let journal: Vec<String> = raw
        .iter()
        .filter(|l| !is_noise(l) && keeps(l, JOURNAL_KEEP))
        .map(|l| l.to_string())
        .collect();
    let marker = format!("{unit}[");
    let mut summary: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for l in raw
        .iter()
        .filter(|l| !is_noise(l) && keeps(l, SUMMARY_KEEP))
    {
        let short = if l.contains(&marker) {
            l.split_once("]: ").map(|(_, m)| m).unwrap_or(l)
        } else {
            l
        };
        if seen.insert(short.to_string()) {
            summary.push(short.to_string());
        }
    }
    JournalData {
        unit: unit.to_string(),
        raw_lines: raw.len(),
        complete: raw.len() < asked,
        journal: JournalView::new(journal),
        summary: JournalView::new(summary),
        read_at,
    }
}

/// Runs `program` with `args`, without a shell, for at most `timeout`; returns stdout.
pub fn run_bounded(
    program: &str,
    args: &[String],
    timeout: Duration,
    ctx: &RefreshContext,
) -> Result<(Vec<u8>, String), SourceError> {
    let mut child = Command::new(program)
        .args(args)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SourceError::new(format!("cannot run {program}: {e}")))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(OUTPUT_CAP).read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).trim().replace('\n', "; ")
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if started.elapsed() >= timeout || ctx.stopping() => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = out_reader.join();
                let _ = err_reader.join();
                return Err(SourceError::new(format!(
                    "{program} did not finish within {} s; it was stopped",
                    timeout.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(SourceError::new(format!("waiting for {program}: {e}"))),
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(SourceError::new(format!(
            "{program} failed ({status}){}",
            if err.is_empty() {
                String::new()
            } else {
                format!(": {err}")
            }
        )));
    }
    Ok((out, err))
}

/// Where journald keeps its files (volatile and persistent), one directory per machine.
pub const JOURNAL_ROOTS: [&str; 2] = ["/run/log/journal", "/var/log/journal"];

/// Where the system's `journalctl` is installed; only it is known to read nothing but
/// journald's files.
pub const SYSTEM_JOURNALCTL: [&str; 2] = ["/usr/bin/journalctl", "/bin/journalctl"];

/// True when `program`, looked up in `path` (the `PATH` it will be run with), is the
/// system's `journalctl`.
fn is_system_journalctl(program: &str, path: Option<&std::ffi::OsStr>) -> bool {
    let Some(paths) = path else {
        return false;
    };
    for dir in std::env::split_paths(paths) {
        let p = dir.join(program);
        if p.is_file() {
            let real = std::fs::canonicalize(&p).unwrap_or(p.clone());
            return SYSTEM_JOURNALCTL
                .iter()
                .any(|s| p == Path::new(s) || real == Path::new(s));
        }
    }
    false
}

/// A stamp written this close before it was taken is not trusted (a second append in the
/// same mtime tick, with the same size, would not show).
pub const RACY: Duration = Duration::from_secs(2);

/// One path's size, mtime (ns) and inode.
type Stamp = (PathBuf, u64, i128, u64);

/// The stamps of the journal roots, their directories and the files in them (absent roots
/// count too), sorted; `None` when one cannot be listed. Directory listings and `stat`s
/// only.
fn journal_stamp(roots: &[PathBuf]) -> Option<Vec<Stamp>> {
    fn stamp(path: &Path, m: &std::fs::Metadata) -> Stamp {
        let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
        (path.to_path_buf(), m.len(), mtime, m.ino())
    }
    let mut out = Vec::new();
    for root in roots {
        let m = match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.push((root.clone(), 0, 0, 0));
                continue;
            }
            Err(_) => return None,
        };
        out.push(stamp(root, &m));
        for dir in std::fs::read_dir(root).ok()? {
            let dir = dir.ok()?.path();
            let m = std::fs::metadata(&dir).ok()?;
            out.push(stamp(&dir, &m));
            if !m.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&dir).ok()? {
                let file = file.ok()?.path();
                let m = std::fs::metadata(&file).ok()?;
                out.push(stamp(&file, &m));
            }
        }
    }
    out.sort_unstable();
    Some(out)
}

/// True when no stamp's mtime lies within [`RACY`] before `taken`.
fn settled(stamps: &[Stamp], taken: SystemTime) -> bool {
    let Ok(t) = taken.duration_since(std::time::UNIX_EPOCH) else {
        return false;
    };
    let limit = t.saturating_sub(RACY).as_nanos() as i128;
    stamps.iter().all(|(_, _, mtime, _)| *mtime < limit)
}

/// The journal source.
pub struct Journal {
    program: String,
    unit: String,
    lines: usize,
    interval: Duration,
    /// journald's directories, stamped before a run; empty when the program is not the
    /// system's `journalctl` (then it runs every time).
    roots: Vec<PathBuf>,
    /// The journal's stamps at the last successful run, and its data.
    held: Option<(Vec<Stamp>, JournalData)>,
    /// How many times `journalctl` was run; shown in tests.
    pub runs: u64,
    /// The last run found no journal on this machine.
    absent: bool,
}

impl Journal {
    pub fn new(unit: &str, lines: usize, interval: Duration) -> Journal {
        Journal {
            program: "journalctl".into(),
            unit: unit.to_string(),
            lines,
            interval,
            roots: if is_system_journalctl("journalctl", std::env::var_os("PATH").as_deref()) {
                JOURNAL_ROOTS.iter().map(PathBuf::from).collect()
            } else {
                Vec::new()
            },
            held: None,
            runs: 0,
            absent: false,
        }
    }

    /// The argument vector passed to `journalctl`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-u".into(),
            self.unit.clone(),
            "--output=short-iso".into(),
            "-n".into(),
            self.lines.to_string(),
            "--no-pager".into(),
        ]
    }
}

impl Source for Journal {
    type Data = JournalData;

    fn id(&self) -> SourceId {
        SourceId::Journal
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn next_delay(&self, succeeded: bool, consecutive_failures: u32) -> Duration {
        if succeeded {
            self.interval
        } else if self.absent {
            self.interval * ABSENT_INTERVALS
        } else {
            crate::refresh::backoff(self.interval, consecutive_failures)
        }
    }

    fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult<JournalData> {
        let taken = SystemTime::now();
        let stamps = (!self.roots.is_empty())
            .then(|| journal_stamp(&self.roots))
            .flatten();
        if let (Some(now), Some((held, data))) = (&stamps, &self.held) {
            if now == held {
                // journald wrote nothing since the last run: the same lines.
                let mut data = data.clone();
                data.read_at = crate::clock::now();
                return Ok(Refreshed::new(data));
            }
        }
        self.held = None;
        self.runs += 1;
        self.absent = false;
        let (out, err) = run_bounded(&self.program, &self.args(), TIMEOUT, ctx)?;
        // journalctl exits 0 on a machine without any journal, and says so on stderr.
        if err.contains("No journal files were found") {
            self.absent = true;
            return Err(SourceError::new(format!(
                "{} found no journal on this machine ({err})",
                self.program
            )));
        }
        let text = String::from_utf8_lossy(&out);
        let data = parse(&text, &self.unit, self.lines, crate::clock::now());
        self.held = stamps
            .filter(|s| settled(s, taken))
            .map(|s| (s, data.clone()));
        Ok(Refreshed::new(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\
-- Journal begins at Mon 2025-12-01 10:00:00 CET. --
2025-12-06T14:00:01+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:01,234 - __main__ - INFO - Decision made: False - wait
2025-12-06T14:00:01+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:01,300 - werkzeug - INFO - 127.0.0.1 GET /status HTTP/1.1 200
2025-12-06T14:00:02+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:02,000 - price - INFO - Fetched 96 CSDAC price points
2025-12-06T14:00:03+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:03,000 - ctl - ERROR - Failed to connect
2025-12-06T14:00:04+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:03,000 - ctl - ERROR - Failed to connect
2025-12-06T14:00:05+0100 pi systemd[1]: Started goodwe-master-coordinator.service.
2025-12-06T14:00:06+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:06,000 - __main__ - INFO - Initializing Master Coordinator
2025-12-06T14:00:07+0100 pi goodwe-master-coordinator[812]: 2025-12-06 14:00:07,000 - x - INFO - CSDAC price points then Fetched
";

    #[test]
    fn views() {
        let d = parse(OUT, "goodwe-master-coordinator", 100, crate::clock::now());
        assert_eq!(d.raw_lines, 8);
        assert!(d.complete);
        assert_eq!(d.journal.lines.len(), 6, "{:#?}", d.journal.lines);
        assert!(d.journal.lines.iter().all(|l| !l.contains("werkzeug")));
        let s = &d.summary.lines;
        assert_eq!(
            s,
            &[
                "2025-12-06 14:00:01,234 - __main__ - INFO - Decision made: False - wait",
                "2025-12-06 14:00:02,000 - price - INFO - Fetched 96 CSDAC price points",
                "2025-12-06 14:00:03,000 - ctl - ERROR - Failed to connect",
                "2025-12-06 14:00:06,000 - __main__ - INFO - Initializing Master Coordinator",
            ]
        );
        assert_eq!(d.summary.records[2].level, Some(Level::Error));
        assert_eq!(d.journal.records[0].level, Some(Level::Info));
        let d = parse(OUT, "goodwe-master-coordinator", 8, crate::clock::now());
        assert!(!d.complete);
    }

    #[test]
    fn missing_program_is_an_error_with_the_reason() {
        let e = run_bounded(
            "/nonexistent/journalctl",
            &[],
            TIMEOUT,
            &RefreshContext::default(),
        )
        .unwrap_err();
        assert!(e.0.contains("cannot run /nonexistent/journalctl"), "{e}");
    }

    #[test]
    fn slow_program_is_stopped() {
        let started = Instant::now();
        let e = run_bounded(
            "sleep",
            &["5".into()],
            Duration::from_millis(200),
            &RefreshContext::default(),
        )
        .unwrap_err();
        assert!(e.0.contains("did not finish"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn failing_program_reports_stderr() {
        let e = run_bounded(
            "sh",
            &["-c".into(), "echo nope >&2; exit 3".into()],
            TIMEOUT,
            &RefreshContext::default(),
        )
        .unwrap_err();
        assert!(e.0.contains("nope"), "{e}");
    }

    #[test]
    fn arguments_are_a_vector() {
        let j = Journal::new("goodwe-master-coordinator", 5000, Duration::from_secs(30));
        assert_eq!(
            j.args(),
            [
                "-u",
                "goodwe-master-coordinator",
                "--output=short-iso",
                "-n",
                "5000",
                "--no-pager"
            ]
        );
    }

    #[test]
    fn journalctl_runs_again_only_when_the_journal_changed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("journal");
        let machine = root.join("0123456789abcdef");
        std::fs::create_dir_all(&machine).unwrap();
        let file = machine.join("system.journal");
        std::fs::write(&file, "x").unwrap();
        let age = |path: &Path| {
            let past = SystemTime::now() - Duration::from_secs(60);
            let f = std::fs::File::options().write(true).open(path);
            match f {
                Ok(f) => f.set_modified(past).unwrap(),
                Err(_) => std::fs::File::open(path)
                    .unwrap()
                    .set_modified(past)
                    .unwrap(),
            }
        };
        for p in [&file, &machine, &root] {
            age(p);
        }
        // A stand-in for journalctl: prints one line of the unit.
        let program = dir.path().join("journalctl-probe");
        std::fs::write(
            &program,
            "#!/bin/sh\necho '2025-12-06T14:00:01+0100 pi unit[1]: 2025-12-06 14:00:01,234 - m - INFO - Decision made: wait'\n",
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut src = Journal::new("unit", 10, Duration::from_secs(30));
        src.program = program.display().to_string();
        src.roots = vec![root.clone(), dir.path().join("absent")];
        let ctx = RefreshContext::default();
        let a = src.refresh(&ctx).unwrap().data;
        let b = src.refresh(&ctx).unwrap().data;
        assert_eq!(src.runs, 1, "an unchanged journal ran journalctl again");
        assert!(crate::sources::store::Same::same(&b, &a));
        // An append (as journald marks it: a new mtime).
        std::fs::write(&file, "xy").unwrap();
        src.refresh(&ctx).unwrap();
        assert_eq!(src.runs, 2);
        // Written just now: not trusted, run again; settled: not again.
        src.refresh(&ctx).unwrap();
        assert_eq!(src.runs, 3);
        age(&file);
        src.refresh(&ctx).unwrap();
        src.refresh(&ctx).unwrap();
        assert_eq!(src.runs, 4);
        // A rotated file (a new name in the directory).
        std::fs::write(machine.join("system@0001.journal"), "z").unwrap();
        src.refresh(&ctx).unwrap();
        assert_eq!(src.runs, 5);
    }

    #[test]
    fn a_machine_without_a_journal_is_asked_again_ten_intervals_later() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A stand-in for journalctl: what it prints where there is no journal, until a
        // file appears.
        let program = dir.path().join("journalctl-probe");
        let flag = dir.path().join("journal-now");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\nif [ -e {} ]; then echo '2025-12-06T14:00:01+0100 pi unit[1]: up'; \
                 else echo 'No journal files were found.' >&2; fi\n",
                flag.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let interval = Duration::from_secs(30);
        let mut src = Journal::new("unit", 10, interval);
        src.program = program.display().to_string();
        src.roots = Vec::new();
        let ctx = RefreshContext::default();
        let Err(e) = src.refresh(&ctx) else {
            panic!("no journal is a failure")
        };
        assert!(e.0.contains("found no journal"), "{e}");
        assert_eq!(src.next_delay(false, 1), interval * ABSENT_INTERVALS);
        assert_eq!(src.next_delay(false, 5), interval * ABSENT_INTERVALS);
        // Another failure is retried on the usual back-off.
        src.program = "/nonexistent/journalctl".into();
        assert!(src.refresh(&ctx).is_err());
        assert_eq!(
            src.next_delay(false, 1),
            crate::refresh::backoff(interval, 1)
        );
        // A journal that appears is read.
        std::fs::write(&flag, "").unwrap();
        src.program = program.display().to_string();
        let d = src.refresh(&ctx).unwrap().data;
        assert_eq!(d.raw_lines, 1);
        assert_eq!(src.next_delay(true, 0), interval);
    }

    #[test]
    fn only_the_system_journalctl_is_trusted_to_read_only_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("journalctl"), "#!/bin/sh\n").unwrap();
        // A program of that name found first on PATH is not the system's.
        let path = std::env::join_paths([dir.path(), Path::new("/usr/bin")]).unwrap();
        assert!(!is_system_journalctl("journalctl", Some(&path)));
        assert!(!is_system_journalctl("journalctl", None));
        let system = std::env::join_paths(["/usr/bin", "/bin"]).unwrap();
        let installed = SYSTEM_JOURNALCTL.iter().any(|p| Path::new(p).is_file());
        assert_eq!(is_system_journalctl("journalctl", Some(&system)), installed);
    }
}
