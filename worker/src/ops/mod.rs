//! What runs beside the jobs: the worker's own HTTP endpoints ([`admin`]), the operator's
//! commands ([`cli`]), and the recorder that drains the records outbox into PostgreSQL
//! ([`recorder`]).

pub mod admin;
pub mod breakers;
pub mod cli;
pub mod recorder;
