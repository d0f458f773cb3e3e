//! The coordinator-data feature: bodies of `/current-state`, `/decisions`, `/metrics`,
//! `/monthly-*` and `/historical-data` built at refresh time ([`render`]), and the request
//! handlers that validate queries and pick them ([`handlers`]).

pub mod handlers;
pub mod render;
