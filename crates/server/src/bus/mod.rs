//! How events cross nodes. One node needs nothing (the hub delivers in-process); several
//! nodes share a Redis server (`--bus redis://…`): see `redis.rs`.

pub mod redis;
pub mod wire;
