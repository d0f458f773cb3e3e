//! Log records: the coordinator's line format and how lines group into records.
//!
//! A record starts with a header line `<YYYY-MM-DD> <HH:MM:SS>,<mmm> - <logger> - <LEVEL> -
//! <message>` (Python's logging format as the coordinator configures it). Every following
//! line that is not a header (a traceback, a multi-line message) belongs to the record
//! above it. Lines before the first header of a window belong to a record whose header is
//! outside the window: its level is unknown.

use serde::Serialize;

/// A Python logging level, as written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ];
    /// The names accepted by `?level=` (upper case; the parameter is matched case-insensitively).
    pub const NAMES: [&'static str; 5] = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// Exact, case-sensitive match of a header's level field.
    pub fn from_field(field: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == field)
    }
}

/// The level of `line` if it is a record header, else `None`.
pub fn header_level(line: &str) -> Option<Level> {
    let b = line.as_bytes();
    // `2025-12-06 14:00:01,234` is 23 bytes: digits with separators at fixed places.
    const SHAPE: &[u8; 23] = b"dddd-dd-dd dd:dd:dd,ddd";
    if b.len() < 23 + 3 {
        return None;
    }
    for (c, s) in b[..23].iter().zip(SHAPE) {
        let ok = if *s == b'd' {
            c.is_ascii_digit()
        } else {
            c == s
        };
        if !ok {
            return None;
        }
    }
    let rest = line[23..].strip_prefix(" - ")?;
    let (_logger, rest) = rest.split_once(" - ")?;
    let field = match rest.split_once(" - ") {
        Some((f, _)) => f,
        None => rest.strip_suffix(" -").unwrap_or(rest),
    };
    Level::from_field(field)
}

/// One record: `len` lines starting at `first`, with the level of its header (`None` when
/// the header is not in the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub first: usize,
    pub len: usize,
    pub level: Option<Level>,
}

/// Groups `lines` into records. `header` says whether a line starts a record, and with
/// which level (for the journal the header sits after the journal's own prefix).
pub fn group<S: AsRef<str>>(lines: &[S], header: impl Fn(&str) -> Option<Level>) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match header(line.as_ref()) {
            Some(level) => out.push(Record {
                first: i,
                len: 1,
                level: Some(level),
            }),
            None => match out.last_mut() {
                Some(r) => r.len += 1,
                None => out.push(Record {
                    first: i,
                    len: 1,
                    level: None,
                }),
            },
        }
    }
    out
}

/// What a client asked to see: a level and/or a case-insensitive literal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub level: Option<Level>,
    /// Already lower-cased.
    pub needle: Option<String>,
}

impl Filter {
    pub fn new(level: Option<Level>, q: Option<&str>) -> Filter {
        Filter {
            level,
            needle: q.filter(|q| !q.is_empty()).map(str::to_lowercase),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.level.is_none() && self.needle.is_none()
    }

    /// Whether a record passes: its level equals the wanted one, and one of its lines
    /// contains the search text.
    pub fn keeps<S: AsRef<str>>(&self, record: &Record, lines: &[S]) -> bool {
        if let Some(want) = self.level {
            if record.level != Some(want) {
                return false;
            }
        }
        match &self.needle {
            None => true,
            Some(n) => lines[record.first..record.first + record.len]
                .iter()
                .any(|l| contains_ci(l.as_ref(), n)),
        }
    }
}

/// Case-insensitive literal search; `needle` is already lower-case.
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        if n.is_empty() {
            return true;
        }
        return h
            .windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    hay.to_lowercase().contains(needle)
}

/// The result of filtering a window of lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<'a> {
    /// The last `n` lines of the matching records, oldest first.
    pub lines: Vec<&'a str>,
    /// How many lines of the window belong to matching records.
    pub matched_lines: usize,
}

/// The last `n` lines of the records in `lines` that pass `filter`.
pub fn select<'a, S: AsRef<str>>(
    lines: &'a [S],
    records: &[Record],
    filter: &Filter,
    n: usize,
) -> Selection<'a> {
    if filter.is_empty() {
        let skip = lines.len().saturating_sub(n);
        return Selection {
            lines: lines[skip..].iter().map(AsRef::as_ref).collect(),
            matched_lines: lines.len(),
        };
    }
    let kept: Vec<&Record> = records.iter().filter(|r| filter.keeps(r, lines)).collect();
    let matched_lines = kept.iter().map(|r| r.len).sum();
    let mut out: Vec<&'a str> = Vec::new();
    for r in kept.iter().rev() {
        for l in lines[r.first..r.first + r.len].iter().rev() {
            if out.len() == n {
                break;
            }
            out.push(l.as_ref());
        }
        if out.len() == n {
            break;
        }
    }
    out.reverse();
    Selection {
        lines: out,
        matched_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[&str] = &[
        "  File \"x.py\", line 3, in f",
        "2025-12-06 14:00:01,234 - __main__ - INFO - Decision made: ERROR budget fine",
        "2025-12-06 14:00:02,000 - collector - ERROR - Failed to collect weather data: timeout",
        "Traceback (most recent call last):",
        "  File \"c.py\", line 10, in run",
        "TimeoutError: INFO level text",
        "2025-12-06 14:00:03,001 - __main__ - WARNING - Battery low",
        "2025-12-06 14:00:04,001 - a - b - INFO - logger name with a dash",
        "2025-12-06 14:00:05,001 - __main__ - ERROR - ",
        "2025-12-06 14:00:06,001 - __main__ - CRITICAL",
    ];

    #[test]
    fn headers() {
        assert_eq!(header_level(LOG[1]), Some(Level::Info));
        assert_eq!(header_level(LOG[2]), Some(Level::Error));
        assert_eq!(header_level(LOG[3]), None);
        assert_eq!(header_level(LOG[8]), Some(Level::Error));
        assert_eq!(header_level(LOG[9]), Some(Level::Critical));
        // The logger field ends at the first " - ": "b" is not a level.
        assert_eq!(header_level(LOG[7]), None);
        assert_eq!(
            header_level("2025-12-06 14:00:01,234 - x - error - lower"),
            None
        );
        assert_eq!(header_level("2025-12-06T14:00:01,234 - x - INFO - m"), None);
        assert_eq!(header_level("ERROR - x"), None);
        assert_eq!(header_level(""), None);
        assert_eq!(
            header_level("2025-12-06 14:00:01,234 - é - INFO - ü"),
            Some(Level::Info)
        );
    }

    #[test]
    fn grouping_keeps_tracebacks_with_their_record() {
        let r = group(LOG, header_level);
        assert_eq!(
            r[0],
            Record {
                first: 0,
                len: 1,
                level: None
            }
        );
        assert_eq!(r[1].level, Some(Level::Info));
        assert_eq!(
            r[2],
            Record {
                first: 2,
                len: 4,
                level: Some(Level::Error)
            }
        );
        assert_eq!(r[3].level, Some(Level::Warning));
        // A line that is not a header continues the record above.
        assert_eq!(r[3].len, 2);
    }

    #[test]
    fn level_filter_is_the_field_not_a_substring() {
        let r = group(LOG, header_level);
        let s = select(LOG, &r, &Filter::new(Some(Level::Error), None), 100);
        assert_eq!(
            s.lines,
            [LOG[2], LOG[3], LOG[4], LOG[5], LOG[8]],
            "the INFO line mentioning ERROR is not an error; the traceback is"
        );
        assert_eq!(s.matched_lines, 5);
        let s = select(LOG, &r, &Filter::new(Some(Level::Info), None), 100);
        assert_eq!(s.lines, [LOG[1]]);
        // Last n lines of the selection.
        let s = select(LOG, &r, &Filter::new(Some(Level::Error), None), 2);
        assert_eq!(s.lines, [LOG[5], LOG[8]]);
        assert_eq!(s.matched_lines, 5);
    }

    #[test]
    fn search_is_literal_and_case_insensitive() {
        let r = group(LOG, header_level);
        let s = select(LOG, &r, &Filter::new(None, Some("TIMEOUTerror")), 100);
        // The whole record whose traceback mentions it.
        assert_eq!(s.lines, &LOG[2..6]);
        let s = select(LOG, &r, &Filter::new(None, Some(".*")), 100);
        assert!(s.lines.is_empty(), "no pattern syntax");
        let s = select(
            LOG,
            &r,
            &Filter::new(Some(Level::Warning), Some("battery")),
            100,
        );
        assert_eq!(s.lines, &LOG[6..8]);
        assert!(contains_ci("Zażółć GĘŚLĄ", "gęślą"));
        assert!(!contains_ci("abc", "abcd"));
    }

    #[test]
    fn no_filter_is_a_plain_tail() {
        let r = group(LOG, header_level);
        let s = select(LOG, &r, &Filter::default(), 3);
        assert_eq!(s.lines, &LOG[7..]);
        assert_eq!(s.matched_lines, LOG.len());
    }
}
