//! The API's error on its way to the client: an HTTP status and the JSON
//! [`ErrorBody`], from a [`ControlError`] or made by a route or guard.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{control::ControlError, types::ErrorBody};

/// An error on its way to the client: an HTTP status and an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, error: impl Into<String>) -> Self {
        let body = ErrorBody {
            error: error.into(),
            code: code.to_owned(),
        };
        ApiError { status, body }
    }

    pub(super) fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", error)
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let status = match e {
            ControlError::UnknownBackend(_) => StatusCode::NOT_FOUND,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::Conflict(_) => StatusCode::CONFLICT,
            ControlError::BadConfig(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ControlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
