//! Abuse limits: whether a source may try another secret (failed-secret lockout per source and
//! client id) and spend another expensive check (the signature-check budget per source).
//!
//! [`guard`] applies both to one request, [`lockout`] and [`budget`] are the two limits, and
//! [`records`] their bounded per-source records, shared by the workers with compare-and-swap.

pub mod budget;
pub mod guard;
pub mod lockout;
pub mod records;

pub use guard::{AbuseLimits, Guard};
