//! The prices feature: the `/prices` renderer ([`render`]) and handler ([`handlers`]).

pub mod handlers;
pub mod render;
