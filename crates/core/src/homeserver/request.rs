//! One typed request: ruma builds it from its endpoint type, we send it with
//! our transport and retries, and ruma reads the answer back into its type.
//! A field missing from an answer is an error naming the endpoint, never a
//! default.

use super::transport::Reply;
use super::{Homeserver, HsError, Retry};
use ruma::api::auth_scheme::{AuthScheme, SendAccessToken};
use ruma::api::path_builder::{PathBuilder, SinglePath, VersionHistory};
use ruma::api::{
    AppserviceUserIdentity, IncomingResponseExt, MatrixVersion, OutgoingRequest,
    OutgoingRequestAppserviceExt, SupportedVersions,
};
use ruma::UserId;
use std::borrow::Cow;
use std::sync::LazyLock;

/// The spec versions whose paths requests are built for. Every homeserver
/// the bridge supports serves v1.11 (authenticated media); paths are chosen
/// as the newest stable path of each endpoint.
static VERSIONS: LazyLock<SupportedVersions> = LazyLock::new(|| SupportedVersions {
    versions: [MatrixVersion::V1_11].into_iter().collect(),
    features: Default::default(),
});

/// What an endpoint's path builder needs: the supported versions, or nothing.
pub(crate) trait PathInput: PathBuilder {
    fn input(versions: &SupportedVersions) -> Self::Input<'_>;
}

impl PathInput for VersionHistory {
    fn input(versions: &SupportedVersions) -> Cow<'_, SupportedVersions> {
        Cow::Borrowed(versions)
    }
}

impl PathInput for SinglePath {
    fn input(_: &SupportedVersions) {}
}

/// A free-form string for a path segment (a state key, an alias, a
/// transaction ID). ruma percent-encodes path segments with the WHATWG path
/// set, which leaves `%` as it is, so a `%2F` in a state key would reach the
/// homeserver as `/`. Escaping `%` first keeps the string whole; the test
/// below fails if ruma starts encoding `%` itself.
pub(crate) fn path_segment(value: &str) -> String {
    value.replace('%', "%25")
}

/// The endpoint's name for errors and logs: `membership::join_room_by_id`
/// out of ruma's `ruma_client_api::membership::join_room_by_id::v3::Request`.
pub(crate) fn endpoint_name<R>() -> String {
    let full = std::any::type_name::<R>();
    let parts: Vec<&str> = full.split("::").collect();
    match parts.as_slice() {
        [_, module @ .., _version, "Request"] => module.join("::"),
        _ => full.to_owned(),
    }
}

impl Homeserver {
    /// Sends one typed request, as `as_user` when given (identity assertion),
    /// with retries as `retry` allows.
    pub(crate) async fn request<R>(
        &self,
        request: R,
        as_user: Option<&UserId>,
        retry: Retry,
    ) -> Result<R::IncomingResponse, HsError>
    where
        R: OutgoingRequest,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        R::PathBuilder: PathInput,
    {
        let http_request = self.http_request(request, as_user)?;
        let reply = self.send_http(http_request, retry).await?;
        parse_reply::<R>(reply)
    }

    /// Builds the HTTP request for a typed one, authorised by the as_token.
    /// The token goes on every request, also where the endpoint's token is
    /// optional (the public room list, profiles): identity assertion works
    /// only with it, and a server may refuse such a request without it.
    pub(super) fn http_request<R>(
        &self,
        request: R,
        as_user: Option<&UserId>,
    ) -> Result<http::Request<Vec<u8>>, HsError>
    where
        R: OutgoingRequest,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        R::PathBuilder: PathInput,
    {
        let mut identity = AppserviceUserIdentity::default();
        identity.user_id = as_user;
        request
            .try_into_http_request_with_identity::<Vec<u8>>(
                &self.base,
                SendAccessToken::Always(&self.as_token),
                identity,
                R::PathBuilder::input(&VERSIONS),
            )
            .map_err(|e| HsError::Request {
                endpoint: endpoint_name::<R>(),
                detail: e.to_string(),
            })
    }

    /// Sends a built request until it works, fails for good, or `retry`
    /// gives up.
    pub(super) async fn send_http(
        &self,
        request: http::Request<Vec<u8>>,
        retry: Retry,
    ) -> Result<Reply, HsError> {
        // Each try sends a copy; the body's bytes are shared, not copied.
        let request = request.map(bytes::Bytes::from);
        self.with_retries(request.uri().path(), retry, || {
            self.api.exchange(request.clone())
        })
        .await
    }
}

/// Reads a successful answer into the endpoint's response type.
pub(super) fn parse_reply<R: OutgoingRequest>(
    reply: Reply,
) -> Result<R::IncomingResponse, HsError> {
    let mut response = http::Response::builder().status(reply.status);
    if let Some(headers) = response.headers_mut() {
        *headers = reply.headers;
    }
    let response = response
        .body(reply.bytes.as_slice())
        .map_err(|e| HsError::Malformed {
            endpoint: endpoint_name::<R>(),
            detail: e.to_string(),
        })?;
    R::IncomingResponse::try_from_http_response(response).map_err(|e| HsError::Malformed {
        endpoint: endpoint_name::<R>(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::api::client::{membership::join_room_by_id, message::send_message_event};

    #[test]
    fn a_percent_in_a_state_key_reaches_the_homeserver_as_a_percent() {
        use ruma::api::client::state::send_state_event;
        let hs = Homeserver::new("http://hs", "token", "hs");
        let request = send_state_event::v3::Request::new_raw(
            ruma::OwnedRoomId::try_from("!room:hs").unwrap(),
            "m.bridge".into(),
            path_segment("causeway://irc/local%2F%23chan"),
            super::super::raw_content(&serde_json::json!({})).unwrap(),
        );
        let uri = hs.http_request(request, None).unwrap().uri().to_string();
        assert!(
            uri.ends_with("/state/m.bridge/causeway:%2F%2Firc%2Flocal%252F%2523chan"),
            "{uri}"
        );
    }

    #[test]
    fn endpoint_names_are_the_module_path() {
        assert_eq!(
            endpoint_name::<join_room_by_id::v3::Request>(),
            "membership::join_room_by_id"
        );
    }

    #[test]
    fn an_answer_missing_a_field_is_an_error_naming_the_endpoint_and_field() {
        let reply = Reply {
            status: http::StatusCode::OK,
            headers: Default::default(),
            bytes: br#"{}"#.to_vec(),
        };
        let err = parse_reply::<send_message_event::v3::Request>(reply).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("message::send_message_event"), "{text}");
        assert!(text.contains("event_id"), "{text}");
    }
}
