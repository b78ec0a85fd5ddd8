//! Who a provisioning call acts for. Either the configured shared secret
//! with `?user_id=` (a trusted script acting for any user), or a Matrix
//! OpenID token (`Bearer openid:<token>`) that the homeserver vouches for,
//! so a user's own client can act for that user and nobody else. Either
//! way the user needs the bridge's `user` permission.

use crate::appservice::auth::{bearer, query_param};
use crate::appservice::errors::MatrixError;
use crate::bridge::Bridge;
use crate::permissions::Level;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use ruma::OwnedUserId;
use subtle::ConstantTimeEq;

/// The Matrix user a call acts for.
pub(crate) struct Caller {
    pub mxid: OwnedUserId,
}

impl FromRequestParts<Bridge> for Caller {
    type Rejection = MatrixError;

    async fn from_request_parts(parts: &mut Parts, bridge: &Bridge) -> Result<Self, MatrixError> {
        let config = &bridge.config().provisioning;
        let Some(token) = bearer(&parts.headers) else {
            return Err(MatrixError::new(
                StatusCode::UNAUTHORIZED,
                "M_MISSING_TOKEN",
                "send Authorization: Bearer <shared secret> or Bearer openid:<OpenID token>",
            ));
        };
        let asked = query_param(&parts.uri, "user_id");
        let mxid = match token.strip_prefix("openid:") {
            Some(openid) => {
                if !config.allow_matrix_auth {
                    return Err(forbidden("OpenID tokens are not accepted here"));
                }
                let owner = bridge
                    .homeserver()
                    .openid_userinfo(openid)
                    .await
                    .map_err(|err| {
                        tracing::info!("an OpenID token was refused: {err}");
                        MatrixError::new(
                            StatusCode::UNAUTHORIZED,
                            "M_UNKNOWN_TOKEN",
                            "the homeserver does not know this OpenID token",
                        )
                    })?;
                if asked.is_some_and(|asked| asked != owner.as_str()) {
                    return Err(forbidden("an OpenID token acts only for its own user"));
                }
                owner
            }
            None => {
                let Some(secret) = &config.shared_secret else {
                    return Err(forbidden("the shared secret is not enabled on this bridge"));
                };
                if !bool::from(token.as_bytes().ct_eq(secret.as_bytes())) {
                    return Err(MatrixError::new(
                        StatusCode::UNAUTHORIZED,
                        "M_UNKNOWN_TOKEN",
                        "wrong shared secret",
                    ));
                }
                let Some(asked) = asked else {
                    return Err(MatrixError::new(
                        StatusCode::BAD_REQUEST,
                        "M_MISSING_PARAM",
                        "say which user to act for with ?user_id=",
                    ));
                };
                OwnedUserId::try_from(asked.as_str()).map_err(|_| {
                    MatrixError::new(
                        StatusCode::BAD_REQUEST,
                        "M_INVALID_PARAM",
                        format!("user_id {asked:?} is not a Matrix user ID"),
                    )
                })?
            }
        };
        if bridge.permission_of(mxid.as_str()) < Level::User {
            return Err(forbidden(format!("{mxid} may not use this bridge")));
        }
        Ok(Caller { mxid })
    }
}

pub(super) fn forbidden(message: impl Into<String>) -> MatrixError {
    MatrixError::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", message)
}
