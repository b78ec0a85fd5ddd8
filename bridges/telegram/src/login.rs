//! Logging in to Telegram: by phone number, code and 2FA password, by
//! scanning a QR code with the Telegram app, or as a bot by its token from
//! @BotFather (a relay for users without an account, with `set-relay`). A wrong code or password is
//! asked again; an expired code says so. The session lives on provisional
//! rows until Telegram says whose account it is, then moves to the login's.

use crate::client::{self, TgClient};
use crate::network::TelegramNetwork;
use crate::session::{LoginSession, NAMESPACE};
use anyhow::{bail, Result};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use causeway_core::ids::LoginId;
use causeway_core::login::{FieldKind, InputField, LoginProcess, LoginStep, NewLogin};
use grammers_client::client::{LoginToken, PasswordToken};
use grammers_client::{tl, SignInError};
use grammers_session::updates::UpdatesLike;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How long a QR code is shown before a fresh one replaces it.
const QR_REFRESH: std::time::Duration = std::time::Duration::from_secs(25);

enum Step {
    Phone,
    BotToken,
    Code(LoginToken),
    Password(PasswordToken),
}

/// A login in progress, on its own client and provisional session.
pub struct TelegramLogin {
    network: TelegramNetwork,
    session: Arc<LoginSession>,
    client: TgClient,
    updates: mpsc::Receiver<UpdatesLike>,
    step: Step,
}

impl TelegramLogin {
    pub async fn new(network: TelegramNetwork) -> Result<Self> {
        let bridge = network.bridge()?;
        let pending = LoginId::from(format!("tg-pending-{:016x}", rand::random::<u64>()));
        let session = Arc::new(LoginSession::load(bridge.login_data(&pending, NAMESPACE)).await?);
        client::prepare(&session, network.config()).await?;
        let (client, updates) = client::connect(session.clone(), network.config());
        Ok(Self {
            network,
            session,
            client,
            updates,
            step: Step::Phone,
        })
    }

    fn field(id: &'static str, name: &'static str, kind: FieldKind) -> Vec<InputField> {
        vec![InputField { id, name, kind }]
    }

    /// The login is done: its session moves to the login's rows.
    async fn complete(&mut self, user: grammers_client::peer::User) -> Result<LoginStep> {
        let bridge = self.network.bridge()?;
        let user_id = user.id().bare_id().unwrap_or_default();
        let login_id = LoginId::from(format!("tg-{user_id}"));
        self.session
            .move_to(bridge.login_data(&login_id, NAMESPACE))
            .await?;
        let name = user.full_name();
        let remote_name = match user.username() {
            Some(username) => format!("{name} (@{username})"),
            None => name,
        };
        Ok(LoginStep::Complete {
            login: NewLogin {
                login_id,
                remote_name: remote_name.clone(),
                secret: None,
                metadata: json!({ "user_id": user_id }),
            },
            message: format!("Logged in to Telegram as {remote_name}."),
        })
    }

    fn ask_code(&self, instructions: &str) -> LoginStep {
        LoginStep::UserInput {
            instructions: instructions.into(),
            fields: Self::field("code", "login code", FieldKind::Code),
        }
    }

    fn ask_password(&self, token: &PasswordToken, instructions: &str) -> LoginStep {
        let hint = token
            .hint()
            .map(|h| format!(" (hint: {h})"))
            .unwrap_or_default();
        LoginStep::UserInput {
            instructions: format!("{instructions}{hint}"),
            fields: Self::field(
                "password",
                "two-step verification password",
                FieldKind::Password,
            ),
        }
    }

    async fn sign_in(&mut self, token: LoginToken, code: &str) -> Result<LoginStep> {
        match self.client.client.sign_in(&token, code).await {
            Ok(user) => self.complete(user).await,
            Err(SignInError::PasswordRequired(password)) => {
                let step = self.ask_password(&password, "Your account has two-step verification.");
                self.step = Step::Password(password);
                Ok(step)
            }
            Err(SignInError::InvalidCode) => {
                self.step = Step::Code(token);
                Ok(self.ask_code("That code is wrong or has expired. Send the code again, or `cancel` and `login` for a new one."))
            }
            Err(SignInError::SignUpRequired) => {
                bail!("this number has no Telegram account; sign up in a Telegram app first")
            }
            Err(err) => Err(err.into()),
        }
    }
}

#[async_trait]
impl LoginProcess for TelegramLogin {
    async fn start(&mut self) -> Result<LoginStep> {
        Ok(LoginStep::UserInput {
            instructions: "Log in to Telegram with your phone number.".into(),
            fields: Self::field("phone", "phone number", FieldKind::PhoneNumber),
        })
    }

    async fn submit(&mut self, input: HashMap<String, String>) -> Result<LoginStep> {
        match std::mem::replace(&mut self.step, Step::Phone) {
            Step::Phone => {
                let phone: String = input
                    .get("phone")
                    .map(|p| {
                        p.chars()
                            .filter(|c| c.is_ascii_digit() || *c == '+')
                            .collect()
                    })
                    .unwrap_or_default();
                if !phone.starts_with('+') || phone.len() < 8 {
                    return Ok(LoginStep::UserInput {
                        instructions: "That is not a phone number in international format.".into(),
                        fields: Self::field("phone", "phone number", FieldKind::PhoneNumber),
                    });
                }
                let token = self
                    .client
                    .client
                    .request_login_code(&phone, &self.network.config().api_hash)
                    .await?;
                self.step = Step::Code(token);
                Ok(self.ask_code("Telegram sent you a login code, in the Telegram app or by SMS."))
            }
            Step::BotToken => {
                let token = input.get("token").cloned().unwrap_or_default();
                let api_hash = &self.network.config().api_hash;
                match self.client.client.bot_sign_in(token.trim(), api_hash).await {
                    Ok(user) => self.complete(user).await,
                    Err(grammers_client::InvocationError::Rpc(rpc))
                        if rpc.name.starts_with("ACCESS_TOKEN") =>
                    {
                        Ok(self.ask_bot_token(
                            "Telegram does not know that token. Send the token @BotFather gave, like 123456:ABC-DEF…",
                        ))
                    }
                    Err(err) => Err(err.into()),
                }
            }
            Step::Code(token) => {
                let code = input.get("code").cloned().unwrap_or_default();
                self.sign_in(token, code.trim()).await
            }
            Step::Password(token) => {
                let password = input.get("password").cloned().unwrap_or_default();
                match self.client.client.check_password(token, password).await {
                    Ok(user) => self.complete(user).await,
                    Err(SignInError::InvalidPassword(token)) => {
                        let step =
                            self.ask_password(&token, "That password is wrong. Send it again.");
                        self.step = Step::Password(token);
                        Ok(step)
                    }
                    Err(err) => Err(err.into()),
                }
            }
        }
    }

    /// The QR flow: shows a token, waits for the phone to accept it.
    async fn wait(&mut self) -> Result<LoginStep> {
        let accepted = tokio::time::timeout(QR_REFRESH, async {
            while let Some(update) = self.updates.recv().await {
                if let UpdatesLike::Updates(tl::enums::Updates::UpdateShort(short)) = &update {
                    if short.update == tl::enums::Update::LoginToken {
                        return true;
                    }
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        let _ = accepted;
        self.export_qr().await
    }

    async fn cancel(&mut self) {
        if let Err(err) = self.session.forget().await {
            tracing::warn!("cannot forget a cancelled login's session: {err:#}");
        }
    }
}

impl TelegramLogin {
    /// The bot flow's one question: the bot's token, redacted once read.
    pub fn ask_bot_token(&mut self, instructions: &str) -> LoginStep {
        self.step = Step::BotToken;
        LoginStep::UserInput {
            instructions: instructions.into(),
            fields: Self::field("token", "bot token", FieldKind::Password),
        }
    }

    /// Exports a login token: a code to show, or, once the phone accepted
    /// the last one, the login.
    pub async fn export_qr(&mut self) -> Result<LoginStep> {
        let config = self.network.config();
        let request = tl::functions::auth::ExportLoginToken {
            api_id: config.api_id,
            api_hash: config.api_hash.clone(),
            except_ids: Vec::new(),
        };
        match self.client.client.invoke(&request).await? {
            tl::enums::auth::LoginToken::Token(token) => Ok(LoginStep::DisplayQr {
                instructions: "In the Telegram app, open Settings → Devices → Link Desktop Device and scan this code.".into(),
                data: format!("tg://login?token={}", URL_SAFE_NO_PAD.encode(&token.token)),
            }),
            tl::enums::auth::LoginToken::Success(success) => {
                let tl::enums::auth::Authorization::Authorization(authorization) = success.authorization else {
                    bail!("Telegram asks to sign up, which the bridge cannot do");
                };
                let user = grammers_client::peer::User::from_raw(&self.client.client, authorization.user);
                self.complete(user).await
            }
            tl::enums::auth::LoginToken::MigrateTo(_) => {
                bail!("the account lives in another data centre; log in by phone number instead")
            }
        }
    }
}
