//! energy-monitor: a monitoring daemon and dashboard for a price-aware home-energy
//! coordinator (solar inverter + battery).
//!
//! Data flows one way: sources are read by the refresh side ([`refresh`]), which renders
//! pre-serialized bodies into an immutable [`snapshot::Snapshot`]; HTTP connection threads ([`http`])
//! only clone that snapshot and write bytes. See ARCHITECTURE.md for the code map.

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod event;
pub mod exit;
pub mod http;
pub mod logging;
pub mod logs;
pub mod prometheus;
pub mod refresh;
pub mod schema;
pub mod snapshot;
pub mod sources;
pub mod status;
pub mod systemd;
pub mod web;
