//! The alore-socket component: Alore's `socket` and `serversocket` modules on WASI.
//!
//! One core, two editions. The core holds every rule once: `stream` (buffering, lines,
//! closing), `connect` (a destination to a connection), `names` (lookups and the host name),
//! `dns` (the resolver's files and messages) and `error`, written over `sys::Sys`, the
//! system calls an edition offers. The WASI 0.2 edition (`p2`, contract `alore:socket@0.1.3`)
//! is the default build; the WASI 0.3 edition (`p3`, contract `alore:socket@0.2.0`) is built
//! with the `p3` feature. Each edition is glue: its WIT exports onto the core, and its WASI
//! imports under `Sys`.

#![warn(unreachable_pub)]

mod connect;
mod dns;
mod error;
mod names;
mod stream;
mod sys;

#[cfg(not(feature = "p3"))]
mod p2;
#[cfg(feature = "p3")]
mod p3;

/// The model-based check of the stream core, for the fuzz target (`fuzz/`).
#[cfg(any(test, feature = "fuzzing"))]
pub use stream::model;
