//! The `source_*` families: for every source, whether it is up, its last success, the
//! time of its data, its staleness threshold and its failure count.

use super::format::{unix, Exposition};
use crate::refresh::{Run, SourceStatus};

pub(super) fn sources(e: &mut Exposition, all: &[SourceStatus]) {
    e.family(
        "source_up",
        "gauge",
        "1 when the source's last refresh succeeded and it holds data, else 0.",
    );
    for s in all {
        let up = s.has_data && s.consecutive_failures == 0 && s.last_success.is_some();
        e.sample(&[("source", s.name())], if up { 1.0 } else { 0.0 });
    }
    e.family(
        "source_last_success_timestamp_seconds",
        "gauge",
        "When the source last refreshed successfully (unix seconds); age = time() - this.",
    );
    for s in all {
        if s.last_success.is_some() {
            e.sample_at(&[("source", s.name())], s.run(Run::LastSuccess));
        }
    }
    e.family(
        "source_data_timestamp_seconds",
        "gauge",
        "When the source's data was observed at its origin (unix seconds), e.g. the inverter reading's time.",
    );
    for s in all {
        match (s.has_data, s.observed_at) {
            (false, _) => {}
            (true, Some(t)) => e.sample(&[("source", s.name())], unix(t)),
            (true, None) => e.sample_at(&[("source", s.name())], s.run(Run::LastSuccess)),
        }
    }
    e.family(
        "source_stale_after_seconds",
        "gauge",
        "Age after which the source's data counts as stale (expired after twice this).",
    );
    for s in all {
        e.sample(&[("source", s.name())], s.stale_after.as_secs_f64());
    }
    e.family(
        "source_consecutive_failures",
        "gauge",
        "Failed refreshes of the source since its last success.",
    );
    for s in all {
        e.sample(&[("source", s.name())], f64::from(s.consecutive_failures));
    }
}
