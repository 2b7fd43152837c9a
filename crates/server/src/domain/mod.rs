//! The service's own rules, free of HTTP and SQL: identifiers, ARNs, time, resources, tokens
//! and the keys that seal them.

pub mod account;
pub mod arn;
pub mod clock;
pub mod ids;
pub mod key_ring;
pub mod resources;
pub mod token;
