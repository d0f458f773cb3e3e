//! The text exposition format's writer: [`Exposition`] writes families (`# HELP` and
//! `# TYPE` with a family's first sample, so a family without samples is left out),
//! samples (non-finite values skipped), samples filled when the body is answered (holes),
//! and the escaping of label values and help texts.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::PREFIX;
use crate::snapshot::live::Live;
use crate::snapshot::{At, Hole, Show};

/// Builds an exposition body. A family's `# HELP`/`# TYPE` lines are written with its
/// first sample, so a family without samples does not appear at all.
pub struct Exposition {
    out: String,
    name: &'static str,
    header: Option<(&'static str, &'static str)>,
    /// Values filled when the body is answered, at byte offsets of `out`.
    holes: Vec<(usize, Hole)>,
}

impl Default for Exposition {
    fn default() -> Self {
        Exposition::new()
    }
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition {
            out: String::with_capacity(8 * 1024),
            name: "",
            header: None,
            holes: Vec::new(),
        }
    }

    /// Starts the family `energy_monitor_<name>`; `kind` is `gauge` or `counter`.
    pub fn family(&mut self, name: &'static str, kind: &'static str, help: &'static str) {
        self.name = name;
        self.header = Some((kind, help));
    }

    /// One sample of the current family; a non-finite value is skipped.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        if !value.is_finite() {
            return;
        }
        self.start_sample(labels);
        let _ = writeln!(self.out, " {value}");
    }

    /// One sample whose value is filled when the body is answered (unix seconds of `at`).
    pub fn sample_at(&mut self, labels: &[(&str, &str)], at: At) {
        self.start_sample(labels);
        self.out.push(' ');
        self.holes.push((
            self.out.len(),
            Hole {
                at,
                show: Show::UnixSeconds,
            },
        ));
        self.out.push('\n');
    }

    /// The family's header (once) and the sample's name and labels.
    fn start_sample(&mut self, labels: &[(&str, &str)]) {
        if let Some((kind, help)) = self.header.take() {
            let _ = writeln!(
                self.out,
                "# HELP {PREFIX}{} {}",
                self.name,
                escape_help(help)
            );
            let _ = writeln!(self.out, "# TYPE {PREFIX}{} {kind}", self.name);
        }
        self.out.push_str(PREFIX);
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
    }

    /// A sample when the value is present.
    pub fn maybe(&mut self, labels: &[(&str, &str)], value: Option<f64>) {
        if let Some(v) = value {
            self.sample(labels, v);
        }
    }

    /// A one-family shortcut for an unlabelled optional value.
    pub fn single(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        value: Option<f64>,
    ) {
        self.family(name, kind, help);
        self.maybe(&[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// The text with its holes (values filled when it is answered).
    pub fn finish_live(self) -> Live {
        Live::at_offsets(self.out.as_bytes(), self.holes)
    }
}

/// A label value as the format wants it: `\` → `\\`, `"` → `\"`, newline → `\n`.
fn escape_label_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

/// An instant as unix seconds (milliseconds kept).
pub(super) fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_without_samples_are_left_out_and_labels_are_escaped() {
        let mut e = Exposition::new();
        e.single("absent", "gauge", "Never sampled.", None);
        e.family("odd", "gauge", "Help with a \\ backslash\nand a newline.");
        e.sample(&[("sensor", "a\"b\\c\nd")], 1.5);
        e.sample(&[("sensor", "nan")], f64::NAN);
        e.single("big", "counter", "A counter.", Some(1e12));
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP energy_monitor_odd Help with a \\\\ backslash\\nand a newline.\n\
             # TYPE energy_monitor_odd gauge\n\
             energy_monitor_odd{sensor=\"a\\\"b\\\\c\\nd\"} 1.5\n\
             # HELP energy_monitor_big A counter.\n\
             # TYPE energy_monitor_big counter\n\
             energy_monitor_big 1000000000000\n"
        );
    }
}
