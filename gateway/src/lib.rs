//! # routeq-gateway
//!
//! The thin front of routeq: it parses and validates route jobs, stamps request ids, enqueues them
//! on the Redis jobs stream and answers by poll (`GET`) or by wait (`Prefer: wait=N`, `?wait=N`).
//! It never calls a route provider, and holds no state of its own: run as many as you like behind
//! a load balancer.
//!
//! - [`app`] builds and runs it; [`state`] is what handlers share; [`config`] its flags;
//! - [`router`]: every route and the middleware around it;
//! - [`http`]: middleware, extractors and the one outcome → response mapping;
//! - [`api`]: the v1 endpoints, the submit body's schema and parser, the API description;
//! - [`auth`]: tenants and API keys; [`waiters`]: waiting for results; [`queue`]: the sampled
//!   queue and admission control; [`ops`]: health, metrics, docs; [`cli`]: operator commands.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod http;
pub mod ops;
pub mod queue;
pub mod router;
pub mod state;
pub mod waiters;

pub use app::Application;
pub use config::{GatewayArgs, GatewayConfig};
