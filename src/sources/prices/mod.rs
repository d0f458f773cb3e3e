//! PSE day-ahead prices for today and tomorrow at 15-minute resolution, made tariff-aware
//! and persisted to `<data_dir>/price_cache.json`. Rendering and the route are features
//! (`crate::api::prices`).
//!
//! Sub-modules: [`model`] (quarters, days, the validity rule), [`source`] (the fetch
//! calendar), [`pse`] (HTTP), [`parse`] (answers → quarters), [`tariff`] (final prices),
//! [`cache`] (the file), [`windows`] (cheapest / most expensive runs).

pub mod cache;
pub mod model;
pub mod parse;
pub mod pse;
pub mod source;
pub mod tariff;
pub mod windows;
