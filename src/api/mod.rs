//! The JSON API features over coordinator data and prices: renderers that build bodies at
//! refresh time from the typed source store, and handlers that pick them per request.

pub mod coordinator;
pub mod prices;
