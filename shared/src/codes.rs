//! The one catalogue of outcome codes.
//!
//! Every answer routeq gives — an accepted job, a finished route, a refused request — carries one of
//! these codes. The catalogue owns the HTTP status, the human title and whether the code counts as a
//! success, so handlers never pick a status by hand and monitoring cannot disagree with clients.
//! A `fallback` estimate is attached to a *failure* code: it is never a success.

use serde::{Deserialize, Serialize};

/// Every code routeq answers with. The wire form is SCREAMING_SNAKE_CASE (`ROUTE_OK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    // --- job states that are not failures ---
    RouteOk,
    JobQueued,
    JobRunning,
    JobCancelled,
    // --- the client's request is wrong ---
    MalformedJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    InvalidField,
    InvalidParameter,
    Unauthorized,
    RequestTimeout,
    HeadersTooLarge,
    IdempotencyKeyReused,
    JobNotFound,
    JobNotCancellable,
    EndpointNotFound,
    MethodNotAllowed,
    // --- the route itself cannot exist ---
    AddressNotFound,
    NoRoute,
    StationNotFound,
    StationRetired,
    NoStationNearby,
    // --- capacity and infrastructure ---
    RateLimited,
    TenantQueueFull,
    QueueSaturated,
    QueueUnavailable,
    SubmitUnconfirmed,
    StoreUnavailable,
    StationsUnavailable,
    // --- the external providers ---
    ProviderError,
    ProviderUnavailable,
    ProviderTimeout,
    JobExpired,
    // --- our own bug ---
    InternalError,
    // --- webhooks ---
    WebhookNotFound,
}

impl Code {
    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [Code; 35] = [
        Code::RouteOk,
        Code::JobQueued,
        Code::JobRunning,
        Code::JobCancelled,
        Code::MalformedJson,
        Code::UnsupportedMediaType,
        Code::PayloadTooLarge,
        Code::InvalidField,
        Code::InvalidParameter,
        Code::Unauthorized,
        Code::RequestTimeout,
        Code::HeadersTooLarge,
        Code::IdempotencyKeyReused,
        Code::JobNotFound,
        Code::JobNotCancellable,
        Code::EndpointNotFound,
        Code::MethodNotAllowed,
        Code::AddressNotFound,
        Code::NoRoute,
        Code::StationNotFound,
        Code::StationRetired,
        Code::NoStationNearby,
        Code::RateLimited,
        Code::TenantQueueFull,
        Code::QueueSaturated,
        Code::QueueUnavailable,
        Code::SubmitUnconfirmed,
        Code::StoreUnavailable,
        Code::StationsUnavailable,
        Code::ProviderError,
        Code::ProviderUnavailable,
        Code::ProviderTimeout,
        Code::JobExpired,
        Code::InternalError,
        Code::WebhookNotFound,
    ];

    /// The HTTP status this code is answered with.
    pub const fn http_status(self) -> u16 {
        match self {
            Code::RouteOk => 200,
            Code::JobQueued | Code::JobRunning => 202,
            // The job exists and will never hold a route.
            Code::JobCancelled => 410,
            Code::MalformedJson | Code::InvalidParameter => 400,
            Code::UnsupportedMediaType => 415,
            Code::PayloadTooLarge => 413,
            Code::InvalidField | Code::IdempotencyKeyReused => 422,
            Code::AddressNotFound | Code::NoRoute => 422,
            // A job (or favourite) naming a station we do not have, or no longer deliver; a GET
            // of /v1/stations/{id} answers the unknown one 404 (the path names nothing).
            Code::StationNotFound | Code::StationRetired | Code::NoStationNearby => 422,
            Code::JobNotFound | Code::EndpointNotFound => 404,
            Code::JobNotCancellable => 409,
            Code::MethodNotAllowed => 405,
            Code::RateLimited | Code::TenantQueueFull => 429,
            Code::Unauthorized => 401,
            Code::RequestTimeout => 408,
            Code::HeadersTooLarge => 431,
            Code::QueueSaturated
            | Code::QueueUnavailable
            | Code::SubmitUnconfirmed
            | Code::StoreUnavailable
            | Code::StationsUnavailable => 503,
            Code::ProviderError => 502,
            Code::ProviderUnavailable => 503,
            Code::ProviderTimeout | Code::JobExpired => 504,
            Code::InternalError => 500,
            Code::WebhookNotFound => 404,
        }
    }

    /// A short, stable, human title (the problem+json `title`).
    pub const fn title(self) -> &'static str {
        match self {
            Code::RouteOk => "Route found",
            Code::JobQueued => "Job queued",
            Code::JobRunning => "Job running",
            Code::JobCancelled => "Job cancelled",
            Code::MalformedJson => "Request body is not valid JSON",
            Code::UnsupportedMediaType => "Content-Type must be application/json",
            Code::PayloadTooLarge => "Request body too large",
            Code::InvalidField => "Request has invalid fields",
            Code::InvalidParameter => "Invalid query parameter or header",
            Code::IdempotencyKeyReused => "Idempotency-Key was used with a different request",
            Code::JobNotFound => "Job not found",
            Code::JobNotCancellable => "Job is no longer queued and cannot be cancelled",
            Code::EndpointNotFound => "No such endpoint",
            Code::MethodNotAllowed => "Method not allowed on this endpoint",
            Code::AddressNotFound => "Address not found",
            Code::NoRoute => "No route between the points",
            Code::StationNotFound => "No such charging station",
            Code::StationRetired => "Charging station no longer in service",
            Code::NoStationNearby => "No matching charging station nearby",
            Code::RateLimited => "Too many requests",
            Code::TenantQueueFull => "Too many of your jobs are queued",
            Code::Unauthorized => "Missing or invalid API key",
            Code::RequestTimeout => "Request body not received in time",
            Code::HeadersTooLarge => "Request headers too large",
            Code::QueueSaturated => "Queue saturated, try again later",
            Code::QueueUnavailable => "Queue unavailable, try again later",
            Code::SubmitUnconfirmed => {
                "Submission not confirmed: retry with the same Idempotency-Key"
            }
            Code::StoreUnavailable => "Job history unavailable, try again later",
            Code::StationsUnavailable => "Station data unavailable, try again later",
            Code::ProviderError => "Route provider failed",
            Code::ProviderUnavailable => "Route provider unavailable",
            Code::ProviderTimeout => "Route provider timed out",
            Code::JobExpired => "Deadline passed before the job could finish",
            Code::InternalError => "Internal error",
            Code::WebhookNotFound => "No such webhook endpoint",
        }
    }

    /// Whether monitoring counts this code as a success (only a found route is).
    pub const fn is_success(self) -> bool {
        matches!(self, Code::RouteOk)
    }

    /// Whether the job is still pending (queued or running) under this code.
    pub const fn is_pending(self) -> bool {
        matches!(self, Code::JobQueued | Code::JobRunning)
    }

    /// The wire name, as serialised (`ROUTE_OK`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::RouteOk => "ROUTE_OK",
            Code::JobQueued => "JOB_QUEUED",
            Code::JobRunning => "JOB_RUNNING",
            Code::JobCancelled => "JOB_CANCELLED",
            Code::MalformedJson => "MALFORMED_JSON",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::InvalidField => "INVALID_FIELD",
            Code::InvalidParameter => "INVALID_PARAMETER",
            Code::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Code::JobNotFound => "JOB_NOT_FOUND",
            Code::JobNotCancellable => "JOB_NOT_CANCELLABLE",
            Code::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::AddressNotFound => "ADDRESS_NOT_FOUND",
            Code::NoRoute => "NO_ROUTE",
            Code::StationNotFound => "STATION_NOT_FOUND",
            Code::StationRetired => "STATION_RETIRED",
            Code::NoStationNearby => "NO_STATION_NEARBY",
            Code::RateLimited => "RATE_LIMITED",
            Code::TenantQueueFull => "TENANT_QUEUE_FULL",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::RequestTimeout => "REQUEST_TIMEOUT",
            Code::HeadersTooLarge => "HEADERS_TOO_LARGE",
            Code::QueueSaturated => "QUEUE_SATURATED",
            Code::QueueUnavailable => "QUEUE_UNAVAILABLE",
            Code::SubmitUnconfirmed => "SUBMIT_UNCONFIRMED",
            Code::StoreUnavailable => "STORE_UNAVAILABLE",
            Code::StationsUnavailable => "STATIONS_UNAVAILABLE",
            Code::ProviderError => "PROVIDER_ERROR",
            Code::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            Code::ProviderTimeout => "PROVIDER_TIMEOUT",
            Code::JobExpired => "JOB_EXPIRED",
            Code::InternalError => "INTERNAL_ERROR",
            Code::WebhookNotFound => "WEBHOOK_NOT_FOUND",
        }
    }

    /// Parses the wire name back (used when reading job records from Redis).
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The problem `type` URI for this code.
    pub fn type_uri(self) -> String {
        format!("urn:routeq:code:{}", self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_match_serde() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).expect("serialise code");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn only_a_found_route_is_a_success() {
        let successes: Vec<_> = Code::ALL.into_iter().filter(|c| c.is_success()).collect();
        assert_eq!(successes, vec![Code::RouteOk]);
        // A provider failure answers 5xx even when a fallback estimate is attached.
        assert_eq!(Code::ProviderUnavailable.http_status(), 503);
        assert_eq!(Code::ProviderTimeout.http_status(), 504);
        assert_eq!(Code::ProviderError.http_status(), 502);
    }

    #[test]
    fn every_status_is_a_valid_http_status() {
        for code in Code::ALL {
            let s = code.http_status();
            assert!((200..600).contains(&s), "{code}: {s}");
            assert!(!code.title().is_empty());
        }
    }
}

#[cfg(test)]
mod docs_tests {
    use super::Code;

    /// docs/api.md's code table must list every code with its status, so the docs cannot drift.
    #[test]
    fn the_api_docs_list_every_code_with_its_status() {
        let docs = include_str!("../../docs/api.md");
        for code in Code::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.http_status());
            assert!(docs.contains(&row), "docs/api.md lacks the row {row}");
        }
    }
}
