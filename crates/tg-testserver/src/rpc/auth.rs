//! Logging in: the code, the 2FA password, logging out.

use super::{error, Caller, Reply};
use crate::state::{PendingCode, SentCode, State, CODE_LIFETIME};
use crate::tl_build;
use crate::Inner;
use grammers_tl_types::{self as tl, Deserializable, Serializable};
use std::time::Instant;

pub(super) fn send_code(
    state: &mut State,
    caller: &Caller,
    request: tl::functions::auth::SendCode,
) -> Reply {
    let Some(account) = state.account_by_phone(&request.phone_number) else {
        return Err(error(400, "PHONE_NUMBER_INVALID"));
    };
    if account.spec.home_dc != caller.dc {
        return Err(error(
            303,
            &format!("PHONE_MIGRATE_{}", account.spec.home_dc),
        ));
    }
    let phone = account.spec.phone.clone();
    let code = format!("{:05}", rand::random::<u32>() % 100_000);
    let hash = format!("{:016x}", rand::random::<u64>());
    state.codes.insert(
        phone.clone(),
        PendingCode {
            hash: hash.clone(),
            code: code.clone(),
            issued: Instant::now(),
        },
    );
    // Where the Telegram app would show it: the sandbox's console.
    tracing::info!(phone = %phone, code = %code, "login code sent");
    state.sent_codes.push(SentCode { phone, code });
    Ok(tl::enums::auth::SentCode::Code(tl::types::auth::SentCode {
        r#type: tl::enums::auth::SentCodeType::App(tl::types::auth::SentCodeTypeApp { length: 5 }),
        phone_code_hash: hash,
        next_type: None,
        timeout: None,
    })
    .to_bytes())
}

pub(super) fn sign_in(
    server: &Inner,
    state: &mut State,
    caller: &mut Caller,
    request: tl::functions::auth::SignIn,
) -> Reply {
    let Some(account) = state.account_by_phone(&request.phone_number) else {
        return Err(error(400, "PHONE_NUMBER_INVALID"));
    };
    let (user, phone, has_password) = (
        account.id,
        account.spec.phone.clone(),
        account.spec.password.is_some(),
    );
    let pending = state
        .codes
        .get(&phone)
        .filter(|p| p.hash == request.phone_code_hash)
        .ok_or_else(|| error(400, "PHONE_CODE_EXPIRED"))?;
    if pending.issued.elapsed() > CODE_LIFETIME || server.expired_codes() {
        return Err(error(400, "PHONE_CODE_EXPIRED"));
    }
    if request.phone_code.as_deref() != Some(pending.code.as_str()) {
        return Err(error(400, "PHONE_CODE_INVALID"));
    }
    state.codes.remove(&phone);
    if has_password {
        if let Some(entry) = state.keys.get_mut(&caller.key_id) {
            entry.password_pending = Some(user);
        }
        return Err(error(401, "SESSION_PASSWORD_NEEDED"));
    }
    Ok(authorize(state, caller, user))
}

/// `auth.importBotAuthorization`: a bot logs in with its token.
pub(super) fn bot_sign_in(
    state: &mut State,
    caller: &mut Caller,
    request: tl::functions::auth::ImportBotAuthorization,
) -> Reply {
    let user = state
        .accounts
        .iter()
        .find(|a| a.spec.bot_token.as_deref() == Some(request.bot_auth_token.as_str()))
        .map(|a| a.id)
        .ok_or_else(|| error(400, "ACCESS_TOKEN_INVALID"))?;
    Ok(authorize(state, caller, user))
}

pub(super) fn check_password(
    state: &mut State,
    caller: &mut Caller,
    request: tl::functions::auth::CheckPassword,
) -> Reply {
    let tl::enums::InputCheckPasswordSrp::Srp(answer) = request.password else {
        return Err(error(400, "PASSWORD_HASH_INVALID"));
    };
    let entry = state
        .keys
        .get(&caller.key_id)
        .ok_or_else(|| error(401, "AUTH_KEY_UNREGISTERED"))?;
    let (Some(user), Some(challenge)) = (entry.password_pending, entry.challenge.clone()) else {
        return Err(error(400, "PASSWORD_HASH_INVALID"));
    };
    let password = state
        .account(user)
        .and_then(|a| a.spec.password.clone())
        .unwrap_or_default();
    if challenge.srp_id != answer.srp_id || !challenge.verify(&password, &answer.a, &answer.m1) {
        return Err(error(400, "PASSWORD_HASH_INVALID"));
    }
    Ok(authorize(state, caller, user))
}

/// Binds the caller's key to `user`: the login is done.
pub(super) fn authorize(state: &mut State, caller: &mut Caller, user: i64) -> Vec<u8> {
    if let Some(entry) = state.keys.get_mut(&caller.key_id) {
        entry.user = Some(user);
        entry.password_pending = None;
    }
    caller.user = Some(user);
    let account = state.account(user).map(|a| tl_build::user(a, user));
    tl::enums::auth::Authorization::Authorization(tl::types::auth::Authorization {
        setup_password_required: false,
        otherwise_relogin_days: None,
        tmp_sessions: None,
        future_auth_token: None,
        user: account.unwrap_or(tl::enums::User::Empty(tl::types::UserEmpty { id: user })),
    })
    .to_bytes()
}

/// `auth.exportLoginToken`: a token to show as a QR code; once another
/// client of the account accepted it, the login itself.
pub(super) fn export_login_token(state: &mut State, caller: &mut Caller) -> Reply {
    let entry = state
        .keys
        .get_mut(&caller.key_id)
        .ok_or_else(|| error(401, "AUTH_KEY_UNREGISTERED"))?;
    if let Some((_, Some(user))) = entry.login_token.take() {
        let authorization = authorize(state, caller, user);
        let authorization = tl::enums::auth::Authorization::from_bytes(&authorization)
            .map_err(|_| error(500, "INTERNAL"))?;
        return Ok(
            tl::enums::auth::LoginToken::Success(tl::types::auth::LoginTokenSuccess {
                authorization,
            })
            .to_bytes(),
        );
    }
    let token: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    entry.login_token = Some((token.clone(), None));
    Ok(
        tl::enums::auth::LoginToken::Token(tl::types::auth::LoginToken {
            expires: tl_build::now() + 30,
            token,
        })
        .to_bytes(),
    )
}

/// Accepts, for `user`, every login token waiting to be scanned, as the
/// user's phone would; returns how many.
pub(crate) fn accept_pending_tokens(state: &mut State, user: i64) -> usize {
    let tokens: Vec<Vec<u8>> = state
        .keys
        .values()
        .filter_map(|entry| match &entry.login_token {
            Some((token, None)) => Some(token.clone()),
            _ => None,
        })
        .collect();
    let count = tokens.len();
    for token in tokens {
        let _ = accept_login_token(state, user, tl::functions::auth::AcceptLoginToken { token });
    }
    count
}

/// `auth.acceptLoginToken`, from a logged-in client scanning the code:
/// the waiting key is told with `updateLoginToken`.
pub(super) fn accept_login_token(
    state: &mut State,
    user: i64,
    request: tl::functions::auth::AcceptLoginToken,
) -> Reply {
    let waiting = state.keys.iter_mut().find(|(_, entry)| {
        entry
            .login_token
            .as_ref()
            .is_some_and(|(token, by)| *token == request.token && by.is_none())
    });
    let Some((key_id, entry)) = waiting else {
        return Err(error(400, "AUTH_TOKEN_INVALID"));
    };
    let key_id = *key_id;
    if let Some((_, by)) = entry.login_token.as_mut() {
        *by = Some(user);
    }
    let update = tl::enums::Updates::UpdateShort(tl::types::UpdateShort {
        update: tl::enums::Update::LoginToken,
        date: tl_build::now(),
    })
    .to_bytes();
    if let Some(pushers) = state.key_pushers.get_mut(&key_id) {
        pushers.retain(|p| p.tx.send(update.clone()).is_ok());
    }
    Ok(
        tl::enums::Authorization::Authorization(tl::types::Authorization {
            current: false,
            official_app: false,
            password_pending: false,
            encrypted_requests_disabled: false,
            call_requests_disabled: false,
            unconfirmed: false,
            hash: rand::random(),
            device_model: "test device".into(),
            platform: "test".into(),
            system_version: "1".into(),
            api_id: 0,
            app_name: "test".into(),
            app_version: "1".into(),
            date_created: tl_build::now(),
            date_active: tl_build::now(),
            ip: "127.0.0.1".into(),
            country: String::new(),
            region: String::new(),
        })
        .to_bytes(),
    )
}
