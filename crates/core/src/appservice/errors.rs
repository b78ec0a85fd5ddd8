//! Matrix error responses: a status code plus `{"errcode", "error"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct MatrixError {
    pub status: StatusCode,
    pub errcode: &'static str,
    pub message: String,
}

impl MatrixError {
    pub fn new(status: StatusCode, errcode: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            errcode,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", message)
    }

    pub fn unrecognized() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "M_UNRECOGNIZED",
            "unrecognized request",
        )
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "M_UNKNOWN",
            err.to_string(),
        )
    }
}

impl IntoResponse for MatrixError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(errcode = self.errcode, "{}", self.message);
        } else {
            tracing::warn!(status = %self.status, errcode = self.errcode, "refused a homeserver request: {}", self.message);
        }
        metrics::counter!("causeway_appservice_errors_total", "errcode" => self.errcode)
            .increment(1);
        (
            self.status,
            Json(ErrorBody {
                errcode: self.errcode,
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// The body of a Matrix error answer.
#[derive(serde::Serialize)]
struct ErrorBody {
    errcode: &'static str,
    error: String,
}

/// The body of an answer that has nothing to say: `{}`.
#[derive(serde::Serialize)]
pub(crate) struct Empty {}
