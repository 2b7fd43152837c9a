//! Amazon IVS Chat wire types: what travels over HTTP and WebSocket, and the rules
//! from the AWS service model that decide whether a request is well formed.
//!
//! No tokio, no I/O: the server, the fuzzers and any client can depend on this crate.

pub mod control;
pub mod errors;
pub mod messaging;
pub mod model;
pub mod validate;
