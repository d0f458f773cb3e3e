//! Log text: the coordinator's record format ([`record`]) and reading the end of a file
//! ([`tail`]). Pure parsing and bounded reads, shared by the log directory and journal
//! sources and by the log routes.

pub mod record;
pub mod tail;
