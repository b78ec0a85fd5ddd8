//! What a Matrix user stores for a network: the ident username, and the
//! password sent to NickServ. Both live in the core's login table, where the
//! password is encrypted at rest.

use crate::network::IrcNetwork;
use anyhow::Result;
use causeway_core::ids::LoginId;
use causeway_core::store::LoginRow;
use serde_json::{json, Value};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
}

fn login_id(network: &str, mxid: &str) -> LoginId {
    LoginId(format!("irc:{network}:{mxid}"))
}

/// Whether IRC accepts `name` as an ident username.
pub fn is_valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 10
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl IrcNetwork {
    pub(crate) async fn credentials(&self, network: &str, mxid: &str) -> Result<Credentials> {
        let bridge = self.bridge()?;
        let id = login_id(network, mxid);
        let logins = bridge.store().logins_of(bridge.secrets(), mxid).await?;
        let Some(login) = logins.into_iter().find(|l| l.login_id == id) else {
            return Ok(Credentials::default());
        };
        Ok(Credentials {
            username: login
                .metadata
                .get("username")
                .and_then(Value::as_str)
                .map(str::to_owned),
            password: login
                .secret
                .map(|s| String::from_utf8_lossy(&s).into_owned()),
        })
    }

    pub(crate) async fn save_credentials(
        &self,
        network: &str,
        mxid: &str,
        credentials: &Credentials,
    ) -> Result<()> {
        let bridge = self.bridge()?;
        let id = login_id(network, mxid);
        if credentials == &Credentials::default() {
            bridge.store().delete_login(&id).await?;
            return Ok(());
        }
        let row = LoginRow {
            login_id: id,
            mxid: mxid.to_owned(),
            remote_name: credentials.username.clone().unwrap_or_default(),
            secret: credentials.password.as_ref().map(|p| p.as_bytes().to_vec()),
            metadata: json!({ "network": network, "username": credentials.username }),
        };
        bridge.store().put_login(bridge.secrets(), &row).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_ident_rules() {
        assert!(is_valid_username("alice") && is_valid_username("a_b-9"));
        assert!(
            !is_valid_username("")
                && !is_valid_username("elevenchars")
                && !is_valid_username("a b")
                && !is_valid_username("é")
        );
    }
}
