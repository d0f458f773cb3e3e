//! The logs feature: `/logs`, `/logs/files`, `/logs/download/<name>` and `/logs?follow=true`.
//!
//! Where the work happens:
//! - The refresh side reads: the `logs` source ([`crate::sources::log_dir`]) lists the log
//!   directory and keeps the end of each listed file, parsed into records; the `journal`
//!   source ([`crate::sources::journal`]) runs `journalctl`. [`render::LogsRenderer`]
//!   publishes both as a [`LogsView`] in the hub's [`LogsPublished`] cell and pre-serializes
//!   the default views (`/logs?file=<name>&lines=100` for every name, and `/logs/files`)
//!   into the snapshot.
//! - A `/logs` request ([`api`]) is answered from the snapshot when it asks for a default
//!   view, else by filtering the published tail in memory (at most `logs.max_lines` lines).
//! - Streams run on their connection's thread and are capped:
//!   followers ([`follow`], `logs.max_followers`) and downloads ([`download`],
//!   `logs.max_downloads`). They are the only request paths that read files.
//!
//! Handlers read the published [`LogsView`], the settings and the stream caps from the
//! [`LogsHub`] their routes hold.

pub mod api;
pub mod download;
pub mod follow;
pub mod render;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::Config;
use crate::sources::journal::JournalData;
use crate::sources::log_dir::LogListing;

/// The log routes.
pub const LOGS: &str = "/logs";
pub const FILES: &str = "/logs/files";
pub const DOWNLOAD: &str = "/logs/download/";

/// The `lines` default of `/logs`.
pub const DEFAULT_LINES: usize = 100;

/// The names `file=` accepts besides the listed files, and what they mean.
pub const SELECTORS: &[(&str, Selector)] = &[
    ("master", Selector::File("master_coordinator.log")),
    ("fast_charge", Selector::File("fast_charge.log")),
    ("data", Selector::File("enhanced_data_collector.log")),
    (
        "enhanced_data_collector",
        Selector::File("enhanced_data_collector.log"),
    ),
    ("journal", Selector::Journal),
    ("systemd", Selector::Journal),
    ("summary", Selector::Summary),
];

/// What a selector names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    File(&'static str),
    Journal,
    Summary,
}

/// What a `file=` value refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file directly in the log directory (it may not exist).
    File(String),
    Journal,
    Summary,
}

/// A resolved `file=` value: its canonical spelling (used in route keys) and its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub key: String,
    pub target: Target,
}

/// Limits and places, from the configuration.
#[derive(Debug, Clone)]
pub struct LogsSettings {
    pub dir: PathBuf,
    pub max_lines: usize,
    pub max_followers: usize,
    pub max_downloads: usize,
    pub max_response_bytes: usize,
}

impl LogsSettings {
    pub fn from_config(config: &Config) -> LogsSettings {
        LogsSettings {
            dir: config.coordinator.logs_dir.clone(),
            max_lines: config.logs.max_lines,
            max_followers: config.logs.max_followers,
            max_downloads: config.logs.max_downloads,
            max_response_bytes: config.logs.max_response_bytes,
        }
    }
}

/// What the refresh side last published for the log routes.
#[derive(Debug, Clone, Default)]
pub struct LogsView {
    pub listing: Option<Arc<LogListing>>,
    /// Why the directory could not be read, when it could not.
    pub listing_error: Option<String>,
    pub journal: Option<Arc<JournalData>>,
    pub journal_error: Option<String>,
}

/// A counting gate: at most `limit` holders of a [`Permit`] at once.
#[derive(Debug)]
pub struct Gate {
    active: AtomicUsize,
    pub limit: usize,
}

/// Held while a stream runs; dropping it frees the place.
#[derive(Debug)]
pub struct Permit(Arc<Gate>);

impl Gate {
    pub fn new(limit: usize) -> Arc<Gate> {
        Arc::new(Gate {
            active: AtomicUsize::new(0),
            limit,
        })
    }

    /// A place, or `None` when `limit` are taken.
    pub fn try_enter(self: &Arc<Gate>) -> Option<Permit> {
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(Arc::clone(self)))
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The [`LogsView`] last published by [`render::LogsRenderer`]. The renderer stores into it
/// on the refresh thread while it renders, that is right before the snapshot holding the
/// bodies rendered from the same view is swapped in; handlers load it.
#[derive(Debug, Default)]
pub struct LogsPublished {
    view: RwLock<Arc<LogsView>>,
}

impl LogsPublished {
    /// The last published view, or an empty one before the first publication. The lock is
    /// held only to clone the `Arc`.
    pub fn load(&self) -> Arc<LogsView> {
        Arc::clone(&self.view.read())
    }

    /// Replaces the view. Only the logs renderer calls this.
    pub fn store(&self, view: LogsView) {
        *self.view.write() = Arc::new(view);
    }
}

/// Settings, published view and stream gates of the log routes, shared by
/// [`render::LogsRenderer`] (which fills `published`) and the log routes' handlers.
#[derive(Debug)]
pub struct LogsHub {
    pub settings: LogsSettings,
    pub published: LogsPublished,
    pub followers: Arc<Gate>,
    pub downloads: Arc<Gate>,
}

impl LogsHub {
    pub fn new(settings: LogsSettings) -> Arc<LogsHub> {
        Arc::new(LogsHub {
            followers: Gate::new(settings.max_followers),
            downloads: Gate::new(settings.max_downloads),
            published: LogsPublished::default(),
            settings,
        })
    }

    /// The last published view (empty before the first publication).
    pub fn view(&self) -> Arc<LogsView> {
        self.published.load()
    }
}

/// Resolves a `file=` value: a selector (case-insensitive) or the exact name of a listed
/// file. Client text is only compared with these names.
pub fn resolve(value: &str, listing: Option<&LogListing>) -> Option<Resolved> {
    let lower = value.to_ascii_lowercase();
    if let Some((_, sel)) = SELECTORS.iter().find(|(n, _)| *n == lower) {
        // Aliases share the first name given for the same target.
        let name = SELECTORS
            .iter()
            .find(|(_, s)| s == sel)
            .map_or(lower.as_str(), |(n, _)| n);
        let target = match sel {
            Selector::File(f) => Target::File(f.to_string()),
            Selector::Journal => Target::Journal,
            Selector::Summary => Target::Summary,
        };
        return Some(Resolved {
            key: name.to_string(),
            target,
        });
    }
    let listed = listing?.files.iter().find(|f| f.name == value)?;
    Some(Resolved {
        key: listed.name.clone(),
        target: Target::File(listed.name.clone()),
    })
}

/// The selector names without their aliases (the first name given for each target), in
/// [`SELECTORS`] order: the list the page offers (published in `/api/dashboard` as
/// `log_selectors`) and the start of every "valid files" answer.
pub fn selector_names() -> impl Iterator<Item = &'static str> {
    SELECTORS
        .iter()
        .enumerate()
        .filter(|(i, (_, sel))| !SELECTORS[..*i].iter().any(|(_, s)| s == sel))
        .map(|(_, (name, _))| *name)
}

/// Every value `file=` accepts right now, for 404 answers.
pub fn valid_names(listing: Option<&LogListing>) -> Vec<String> {
    let mut names: Vec<String> = selector_names().map(str::to_string).collect();
    if let Some(l) = listing {
        names.extend(l.files.iter().map(|f| f.name.clone()));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_names_skip_aliases() {
        let names: Vec<&str> = selector_names().collect();
        assert_eq!(
            names,
            ["master", "fast_charge", "data", "journal", "summary"]
        );
    }

    #[test]
    fn gate_counts_and_frees() {
        let g = Gate::new(2);
        let a = g.try_enter().unwrap();
        let _b = g.try_enter().unwrap();
        assert!(g.try_enter().is_none());
        drop(a);
        assert_eq!(g.active(), 1);
        assert!(g.try_enter().is_some());
    }
}
