//! # routeq-gateway
//!
//! The thin front of routeq: it parses and validates route jobs, stamps request ids, enqueues them
//! on the Redis jobs stream and answers by poll (`GET`) or by wait (`Prefer: wait=N`, `?wait=N`).
//! It never calls a route provider, and holds no state of its own: run as many as you like behind
//! a load balancer.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod sampler;
pub mod validate;
pub mod waiters;

pub use app::Application;
pub use config::{GatewayArgs, GatewayConfig};
