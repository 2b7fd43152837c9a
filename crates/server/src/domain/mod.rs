//! The service's own rules, free of HTTP and SQL: identifiers, ARNs, time, resources, tokens.

pub mod account;
pub mod arn;
pub mod clock;
pub mod ids;
pub mod resources;
pub mod token;
