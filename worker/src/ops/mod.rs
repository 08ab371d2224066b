//! What runs beside the jobs: the worker's own HTTP endpoints ([`admin`]), the operator's
//! commands ([`cli`]), and the recorder that drains the records outbox into PostgreSQL
//! ([`recorder`]), and the housekeeping of the consumer groups ([`consumers`]).

pub mod admin;
pub mod breakers;
pub mod cli;
pub mod codes;
pub mod consumers;
pub mod recorder;
