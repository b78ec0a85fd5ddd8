//! Who the bridge is to the homeserver: discovery, the bot's own checks,
//! ghost registration, profiles and media.

use super::request::{endpoint_name, parse_reply};
use super::{Homeserver, HsError, Retry};
use ruma::api::auth_scheme::SendAccessToken;
use ruma::api::client::account::{register, whoami};
use ruma::api::client::appservice::request_ping;
use ruma::api::client::authenticated_media::get_content;
use ruma::api::client::discovery::{get_capabilities, get_supported_versions};
use ruma::api::client::media::create_content;
use ruma::api::client::profile::get_profile;
use ruma::api::client::profile::set_profile_field;
use ruma::api::OutgoingRequestExt;
use ruma::profile::ProfileFieldValue;
use ruma::{OwnedMxcUri, OwnedTransactionId, OwnedUserId, UserId};

impl Homeserver {
    /// Whether the homeserver answers at all. Sent without a token: it needs
    /// none, and a server refuses any request with a token it does not know,
    /// which would hide whether it is reachable.
    pub async fn versions(&self) -> Result<(), HsError> {
        let request = get_supported_versions::Request::new()
            .try_into_http_request::<Vec<u8>>(&self.base, SendAccessToken::None, ())
            .map_err(|e| HsError::Request {
                endpoint: endpoint_name::<get_supported_versions::Request>(),
                detail: e.to_string(),
            })?;
        self.send_without_token::<get_supported_versions::Request>(request)
            .await
            .map(drop)
    }

    /// The user an OpenID token was issued to, as the homeserver vouches
    /// (the provisioning API's Matrix auth). Sent without our token: the
    /// endpoint takes none, and the OpenID token is the whole proof.
    pub async fn openid_userinfo(&self, token: &str) -> Result<OwnedUserId, HsError> {
        use ruma::api::federation::openid::get_openid_userinfo::v1 as userinfo;
        let request = userinfo::Request::new(token.to_owned())
            .try_into_http_request::<Vec<u8>>(&self.base, (), ())
            .map_err(|e| HsError::Request {
                endpoint: endpoint_name::<userinfo::Request>(),
                detail: e.to_string(),
            })?;
        self.send_without_token::<userinfo::Request>(request)
            .await
            .map(|r| r.sub)
    }

    /// Sends a built request once, as it is: no token, no retries.
    async fn send_without_token<R: ruma::api::OutgoingRequest>(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<R::IncomingResponse, HsError> {
        let reply = self
            .api
            .exchange(request.map(Into::into))
            .await
            .map_err(|(err, _)| err)?;
        parse_reply::<R>(reply)
    }

    /// The user the as_token belongs to: the bridge bot, when set up right.
    pub async fn whoami(&self) -> Result<OwnedUserId, HsError> {
        let response = self
            .request(whoami::v3::Request::new(), None, Retry::ONCE)
            .await?;
        Ok(response.user_id)
    }

    /// Asks the homeserver to ping us back (MSC2659); returns its round trip.
    pub async fn ping_appservice(
        &self,
        appservice_id: &str,
        transaction_id: &str,
    ) -> Result<u64, HsError> {
        let mut request =
            request_ping::v1::Request::new(super::request::path_segment(appservice_id));
        request.transaction_id = Some(OwnedTransactionId::from(transaction_id));
        let response = self.request(request, None, Retry::ONCE).await?;
        Ok(u64::try_from(response.duration.as_millis()).unwrap_or(u64::MAX))
    }

    /// The room version the server creates rooms with.
    pub async fn default_room_version(&self) -> Result<String, HsError> {
        let response = self
            .request(get_capabilities::v3::Request::new(), None, Retry::SHORT)
            .await?;
        Ok(response.capabilities.room_versions.default.to_string())
    }

    /// Registers a ghost in the appservice namespace; one that exists is fine.
    pub async fn register(&self, localpart: &str) -> Result<(), HsError> {
        let mut request = register::v3::Request::new();
        request.username = Some(localpart.to_owned());
        request.login_type = Some(register::LoginType::ApplicationService);
        request.inhibit_login = true;
        match self.request(request, None, Retry::SHORT).await {
            Err(e) if e.errcode() == Some("M_USER_IN_USE") => Ok(()),
            other => other.map(drop),
        }
    }

    /// A user's display name, if they set one.
    pub async fn get_displayname(&self, user: &UserId) -> Result<Option<String>, HsError> {
        Ok(self.profile(user).await?.and_then(|p| p.displayname))
    }

    /// A user's avatar, if they set one.
    pub async fn get_avatar_url(&self, user: &UserId) -> Result<Option<String>, HsError> {
        Ok(self.profile(user).await?.and_then(|p| p.avatar_url))
    }

    /// Whether a user has a profile, which every registered user has: a DM
    /// with someone who does not exist should fail before it is made.
    pub async fn user_exists(&self, user: &UserId) -> Result<bool, HsError> {
        Ok(self.profile(user).await?.is_some())
    }

    /// A user's profile; `None` when the homeserver knows no such user.
    async fn profile(&self, user: &UserId) -> Result<Option<Profile>, HsError> {
        let request = get_profile::v3::Request::new(user.to_owned());
        match self.request(request, None, Retry::SHORT).await {
            Ok(response) => {
                let text = |field: &str| {
                    response
                        .get(field)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                };
                Ok(Some(Profile {
                    displayname: text("displayname"),
                    avatar_url: text("avatar_url"),
                }))
            }
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set_displayname(&self, user: &UserId, name: &str) -> Result<(), HsError> {
        self.set_profile_field(user, ProfileFieldValue::DisplayName(name.to_owned()))
            .await
    }

    pub async fn set_avatar_url(&self, user: &UserId, mxc: &str) -> Result<(), HsError> {
        self.set_profile_field(user, ProfileFieldValue::AvatarUrl(OwnedMxcUri::from(mxc)))
            .await
    }

    async fn set_profile_field(
        &self,
        user: &UserId,
        value: ProfileFieldValue,
    ) -> Result<(), HsError> {
        let request = set_profile_field::v3::Request::new(user.to_owned(), value);
        self.request(request, Some(user), Retry::SHORT)
            .await
            .map(drop)
    }

    /// Uploads media as `user`; returns its `mxc://` URI. Not retried: an
    /// upload that may have landed is not worth a second copy.
    pub async fn upload(
        &self,
        user: &UserId,
        bytes: Vec<u8>,
        content_type: &str,
        filename: &str,
    ) -> Result<String, HsError> {
        let mut request = create_content::v3::Request::new(bytes);
        request.content_type = Some(content_type.to_owned());
        request.filename = Some(filename.to_owned());
        let response = self.request(request, Some(user), Retry::ONCE).await?;
        Ok(response.content_uri.to_string())
    }

    /// Downloads media through the authenticated media API. Only `mxc://`
    /// URIs are accepted, so media is only ever fetched from the homeserver.
    pub async fn download(&self, mxc: &str) -> Result<(Vec<u8>, Option<String>), HsError> {
        let request: get_content::v1::Request = super::media::download_request(mxc)?;
        let response = self.request(request, None, Retry::SHORT).await?;
        Ok((response.file, response.content_type))
    }
}

/// The profile fields the bridge reads.
struct Profile {
    displayname: Option<String>,
    avatar_url: Option<String>,
}
