//! RFC 9457 problem bodies. Every key is always present (`""`, `[]`), never `null`.

use serde::{Deserialize, Serialize};

use crate::codes::Code;

/// One field at fault in a 422 (or a header / query parameter in a 400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// A JSON path such as `origin.lat` or `waypoints[2].address`, or a header / parameter name.
    pub field: String,
    /// A stable, machine-readable reason (`out_of_range`, `required`, `unknown_field`, …).
    pub reason: String,
    /// A human sentence.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// An error body: `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: Code,
    pub request_id: String,
    /// The job the answer is about, when there is one (`SUBMIT_UNCONFIRMED`: the id the job has
    /// if the submission took effect); `""` otherwise.
    pub id: String,
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Problem {
            type_uri: code.type_uri(),
            title: code.title().to_string(),
            status: code.http_status(),
            detail: detail.into(),
            code,
            request_id: String::new(),
            id: String::new(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
}
