//! The admin API's wire formats: the bearer token an admin presents and the JSON it exchanges.
//!
//! The origin checks tokens and serves these types; the console and scripts read them.
//! With the `openapi` feature every type also describes itself for the OpenAPI document.

pub mod api;
pub mod console;
pub mod token;
