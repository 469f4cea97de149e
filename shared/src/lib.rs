//! portaldm's protocol core, sans-I/O.
//!
//! Every wire format and protocol rule of portaldm lives here as pure functions and
//! state machines over bytes and values: no sockets, no clock, no database, no ambient
//! randomness. Time enters as [`time::UnixMillis`] arguments and random bytes through
//! [`rand::SecureRandom`], so the edge (wasm32), the origin and dmclient feed their own,
//! and tests feed fixed values.

pub mod auth;
pub mod binding;
pub mod catalog;
pub mod cdn;
pub mod device;
pub mod edgeauth;
pub mod fumo;
pub mod fwver;
pub mod http1;
pub mod job;
pub mod keys;
pub mod media;
pub mod path;
pub mod pkg0;
pub mod pkgsig;
pub mod portal;
pub mod profile;
pub mod rand;
pub mod range;
pub mod ratelimit;
pub mod scomo;
pub mod session;
pub mod settings;
pub mod stock;
pub mod syncml;
pub mod text;
pub mod time;
pub mod token;
pub mod trigger;
