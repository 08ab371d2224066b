//! The gateway's HTTP plumbing, shared by every endpoint: the request extractors and the one
//! mapping from outcomes to responses. It knows no endpoint and no state.

pub mod error;
pub mod extract;
pub mod serve;
pub mod trace;

pub use error::{ApiError, job_response};

/// The request id of the request being answered (set by [`crate::router::observe`]).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// The request id of a request the middleware has seen ("" before it).
    pub fn of(extensions: &axum::http::Extensions) -> RequestId {
        extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(String::new()))
    }
}
