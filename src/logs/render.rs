//! The logs renderer: runs on the refresh thread whenever the `logs` or `journal` source
//! changes, publishes their data (a [`LogsView`], in the hub's
//! [`LogsPublished`](super::LogsPublished) cell) for the `/logs` handlers, and pre-serializes `/logs/files` and the default view (`lines=100`, no filter) of every
//! `file=` name.

use std::sync::Arc;

use serde_json::json;

use super::api::{self, LogsRequest};
use super::{resolve, selector_names, LogsHub, LogsView, DEFAULT_LINES};
use crate::clock;
use crate::refresh::{Renderer, SourceId};
use crate::snapshot::Body;
use crate::sources::log_dir::LogListing;
use crate::sources::store::{Sources, View};

pub struct LogsRenderer {
    hub: Arc<LogsHub>,
}

impl LogsRenderer {
    /// A renderer publishing into `hub`, the hub the log routes are built with.
    pub fn new(hub: Arc<LogsHub>) -> LogsRenderer {
        LogsRenderer { hub }
    }

    fn published(view: &View) -> LogsView {
        let logs = view.get(SourceId::Logs);
        let journal = view.get(SourceId::Journal);
        LogsView {
            listing: view.data.logs.clone(),
            listing_error: logs.and_then(|s| s.last_error.clone()),
            journal: view.data.journal.clone(),
            journal_error: journal.and_then(|s| s.last_error.clone()),
        }
    }
}

/// The `/logs/files` body: every listed file with its size and modification time, sorted
/// by name (`path` repeats the name, as the original did; it is never a filesystem path).
pub fn files_body(listing: &LogListing) -> Body {
    let files: Vec<_> = listing
        .files
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "path": f.name,
                "size": f.size,
                "modified": f.modified.map(clock::local_rfc3339),
            })
        })
        .collect();
    Body::json(200, &json!({ "log_files": files }))
}

impl Renderer<Sources> for LogsRenderer {
    fn inputs(&self) -> &'static [SourceId] {
        &[SourceId::Logs, SourceId::Journal]
    }

    fn render(&self, view: &View) -> Vec<(String, Body)> {
        let published = Self::published(view);
        let mut bodies = Vec::new();
        if let Some(listing) = published.listing.as_deref() {
            bodies.push((api::FILES.to_string(), files_body(listing)));
        }
        // Default views: every selector (aliases share their canonical name's view), then
        // every listed file by name.
        let mut keys: Vec<&str> = selector_names().collect();
        if let Some(l) = published.listing.as_deref() {
            keys.extend(l.files.iter().map(|f| f.name.as_str()));
        }
        for value in keys {
            let Some(file) = resolve(value, published.listing.as_deref()) else {
                continue;
            };
            if file.key != value {
                continue; // a name that resolves to another one: that one is rendered
            }
            let req = LogsRequest {
                file,
                lines: DEFAULT_LINES.min(self.hub.settings.max_lines),
                level: None,
                q: None,
                follow: false,
                max_bytes: self.hub.settings.max_response_bytes,
            };
            if !req.is_default_view() {
                continue;
            }
            let key = api::default_key(&req.file.key);
            bodies.push((key, api::build(&req, &published)));
        }
        // The scheduler swaps in the snapshot with these bodies right after this returns.
        self.hub.published.store(published);
        bodies
    }
}
