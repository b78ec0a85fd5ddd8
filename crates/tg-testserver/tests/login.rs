//! Logging in with the real grammers client, its session in our database.

use anyhow::Result;
use common::*;
use grammers_client::SignInError;

mod common;

#[tokio::test]
async fn a_login_by_code_survives_a_restart_of_the_client() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let session = db.session("tg-alice").await?;
    point_at(&session, &server).await?;
    let alice = connect(session);
    assert!(!bounded("is_authorized", alice.client.is_authorized()).await??);

    let token = bounded(
        "sendCode",
        alice.client.request_login_code("+15550001", API_HASH),
    )
    .await??;
    // A wrong code is refused as such, and the right one then works.
    let wrong = bounded("signIn", alice.client.sign_in(&token, "00000x")).await?;
    assert!(matches!(wrong, Err(SignInError::InvalidCode)), "{wrong:?}");
    let me = bounded(
        "signIn",
        alice
            .client
            .sign_in(&token, &last_code(&server, "15550001")),
    )
    .await??;
    assert_eq!(me.first_name(), Some("Alice"));
    drop(alice);

    // A new client on the stored session is still logged in.
    let again = connect(db.session("tg-alice").await?);
    assert!(bounded("is_authorized", again.client.is_authorized()).await??);
    let me = bounded("get_me", again.client.get_me()).await??;
    assert_eq!(me.username(), Some("alice"));
    Ok(())
}

#[tokio::test]
async fn an_expired_code_is_refused_and_a_fresh_one_works() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let session = db.session("tg-bob").await?;
    point_at(&session, &server).await?;
    let bob = connect(session);
    let token = bounded(
        "sendCode",
        bob.client.request_login_code("+15550002", API_HASH),
    )
    .await??;
    server.expire_codes(true);
    // grammers reports every PHONE_CODE_* error as an invalid code.
    let expired = bounded(
        "signIn",
        bob.client.sign_in(&token, &last_code(&server, "15550002")),
    )
    .await?;
    assert!(
        matches!(expired, Err(SignInError::InvalidCode)),
        "{expired:?}"
    );
    assert!(!bounded("is_authorized", bob.client.is_authorized()).await??);
    // A fresh code, in time, works.
    server.expire_codes(false);
    let token = bounded(
        "sendCode",
        bob.client.request_login_code("+15550002", API_HASH),
    )
    .await??;
    bounded(
        "signIn",
        bob.client.sign_in(&token, &last_code(&server, "15550002")),
    )
    .await??;
    assert!(bounded("is_authorized", bob.client.is_authorized()).await??);
    Ok(())
}

#[tokio::test]
async fn a_revoked_login_is_no_longer_authorized() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    assert!(bounded("is_authorized", alice.client.is_authorized()).await??);
    server.revoke_logins(server.user_id("15550001").unwrap_or_default());
    assert!(!bounded("is_authorized", alice.client.is_authorized()).await??);
    Ok(())
}

#[tokio::test]
async fn a_2fa_password_is_asked_after_the_code_and_checked_exactly() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let session = db.session("tg-carol").await?;
    point_at(&session, &server).await?;
    let carol = connect(session);
    let phone = "+15550003";
    let token = bounded("sendCode", carol.client.request_login_code(phone, API_HASH)).await??;
    let code = last_code(&server, phone);
    let asked = bounded("signIn", carol.client.sign_in(&token, &code)).await?;
    let Err(SignInError::PasswordRequired(password_token)) = asked else {
        panic!("expected a password request, got {asked:?}");
    };
    let wrong = bounded(
        "checkPassword",
        carol.client.check_password(password_token, "hunter3"),
    )
    .await?;
    let Err(SignInError::InvalidPassword(password_token)) = wrong else {
        panic!("expected a wrong password, got {wrong:?}");
    };
    assert!(!bounded("is_authorized", carol.client.is_authorized()).await??);
    let me = bounded(
        "checkPassword",
        carol.client.check_password(password_token, "hunter2"),
    )
    .await??;
    assert_eq!(me.first_name(), Some("Carol"));
    assert!(bounded("is_authorized", carol.client.is_authorized()).await??);
    Ok(())
}

#[tokio::test]
async fn a_qr_login_is_accepted_by_a_logged_in_client_of_the_account() -> Result<()> {
    use grammers_client::tl;
    let server = server().await?;
    let db = Db::new().await;
    let phone = logged_in(&server, &db, "tg-alice-phone", "+15550001").await?;
    let session = db.session("tg-alice").await?;
    point_at(&session, &server).await?;
    let mut desktop = connect(session);
    let export = tl::functions::auth::ExportLoginToken {
        api_id: API_ID,
        api_hash: API_HASH.into(),
        except_ids: Vec::new(),
    };
    let tl::enums::auth::LoginToken::Token(token) =
        bounded("export", desktop.client.invoke(&export)).await??
    else {
        anyhow::bail!("expected a token to show");
    };
    assert!(!bounded("is_authorized", desktop.client.is_authorized()).await??);

    // The phone scans the code; the desktop is told, and asks again.
    bounded(
        "accept",
        phone
            .client
            .invoke(&tl::functions::auth::AcceptLoginToken { token: token.token }),
    )
    .await??;
    let mut raw = desktop.updates.take().expect("updates");
    let told = bounded("updateLoginToken", raw.recv()).await?;
    assert!(
        matches!(&told, Some(grammers_session::updates::UpdatesLike::Updates(tl::enums::Updates::UpdateShort(u))) if u.update == tl::enums::Update::LoginToken),
        "{told:?}"
    );
    let done = bounded("export", desktop.client.invoke(&export)).await??;
    assert!(
        matches!(done, tl::enums::auth::LoginToken::Success(_)),
        "{done:?}"
    );
    assert!(bounded("is_authorized", desktop.client.is_authorized()).await??);

    // A token is good once.
    let again = bounded(
        "accept",
        phone.client.invoke(&tl::functions::auth::AcceptLoginToken {
            token: vec![1, 2, 3],
        }),
    )
    .await?;
    assert!(
        matches!(again, Err(grammers_client::InvocationError::Rpc(e)) if e.name == "AUTH_TOKEN_INVALID")
    );
    Ok(())
}

#[tokio::test]
async fn an_account_in_another_dc_is_followed_there_and_stays_there() -> Result<()> {
    use grammers_session::Session;
    let server = server().await?;
    let db = Db::new().await;
    let session = db.session("tg-dave").await?;
    point_at(&session, &server).await?;
    let dave = connect(session.clone());
    // DC 2 answers PHONE_MIGRATE_4; grammers moves and asks DC 4.
    let token = bounded(
        "sendCode",
        dave.client.request_login_code("+15550004", API_HASH),
    )
    .await??;
    let me = bounded(
        "signIn",
        dave.client.sign_in(&token, &last_code(&server, "15550004")),
    )
    .await??;
    assert_eq!(me.first_name(), Some("Dave"));
    assert_eq!(session.home_dc_id()?, 4);
    drop(dave);
    // The stored session remembers the move.
    let reloaded = db.session("tg-dave").await?;
    assert_eq!(reloaded.home_dc_id()?, 4);
    let again = connect(reloaded);
    assert!(bounded("is_authorized", again.client.is_authorized()).await??);
    Ok(())
}

#[tokio::test]
async fn a_bot_logs_in_by_its_token_and_a_wrong_token_is_refused() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let session = db.session("tg-bot").await?;
    point_at(&session, &server).await?;
    let bot = connect(session);
    let wrong = bounded(
        "importBotAuthorization",
        bot.client.bot_sign_in("1:nope", API_HASH),
    )
    .await?;
    assert!(
        matches!(&wrong, Err(grammers_client::InvocationError::Rpc(rpc)) if rpc.name == "ACCESS_TOKEN_INVALID"),
        "{wrong:?}"
    );
    let me = bounded(
        "importBotAuthorization",
        bot.client.bot_sign_in("4242:bot-token", API_HASH),
    )
    .await??;
    assert_eq!(me.first_name(), Some("Helper"));
    assert!(me.is_bot());
    Ok(())
}
