//! The web boundary: server functions (called by the hydrated pages) and the REST
//! API (called by scripts). Both only parse, authorise and call the use cases.

pub mod accounts;
pub mod imports;

#[cfg(feature = "ssr")]
pub(crate) mod context;
#[cfg(feature = "ssr")]
pub mod rest;
