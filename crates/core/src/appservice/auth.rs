//! Checks the homeserver's hs_token on every appservice request.

use super::errors::MatrixError;
use axum::http::{HeaderMap, StatusCode, Uri};
use subtle::ConstantTimeEq;

/// Accepts `Authorization: Bearer <hs_token>`, or the legacy `access_token`
/// query parameter, compared in constant time so that response timing does
/// not leak the token.
pub fn check_hs_token(expected: &str, headers: &HeaderMap, uri: &Uri) -> Result<(), MatrixError> {
    let presented = bearer(headers).or_else(|| query_param(uri, "access_token"));
    let Some(token) = presented else {
        return Err(MatrixError::new(
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "missing hs_token: send Authorization: Bearer <hs_token>",
        ));
    };
    if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(MatrixError::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "the hs_token does not match the bridge's registration",
        ))
    }
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// A query parameter, decoded.
pub(crate) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| {
            urlencoding::decode(value)
                .map(|v| v.into_owned())
                .unwrap_or_default()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn missing_token_is_401_and_wrong_token_is_403() {
        let uri: Uri = "/x".parse().unwrap();
        assert_eq!(
            check_hs_token("t", &HeaderMap::new(), &uri)
                .unwrap_err()
                .errcode,
            "M_MISSING_TOKEN"
        );
        assert_eq!(
            check_hs_token("t", &headers("Bearer nope"), &uri)
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        assert!(check_hs_token("t", &headers("Bearer t"), &uri).is_ok());
    }

    #[test]
    fn legacy_query_token_is_still_accepted() {
        let uri: Uri = "/x?access_token=t%20x".parse().unwrap();
        assert!(check_hs_token("t x", &HeaderMap::new(), &uri).is_ok());
    }

    #[test]
    fn a_prefix_of_the_token_is_refused() {
        let uri: Uri = "/x".parse().unwrap();
        assert!(check_hs_token("secret", &headers("Bearer secre"), &uri).is_err());
    }
}
