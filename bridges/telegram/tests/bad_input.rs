//! Bad input through the Telegram bridge: entities that point past the
//! text from Telegram, and HTML with script from Matrix. Each arrives as
//! what can be shown of it, and nothing else is lost.

use anyhow::Result;
use common::*;
use grammers_client::tl;
use serde_json::json;

mod common;

#[tokio::test]
async fn entities_past_the_text_and_html_with_script_arrive_as_safe_text() -> Result<()> {
    let BobAndCarol {
        server: _server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol().await?;

    // From Telegram: one entity inside the text, one far past its end, one
    // with a negative length. The text arrives; only the first styles it.
    carol
        .invoke(&tl::functions::messages::SendMessage {
            no_webpage: true,
            silent: false,
            background: false,
            clear_draft: false,
            peer: bob_tg.into(),
            reply_to: None,
            message: "short <text>".into(),
            random_id: 77,
            reply_markup: None,
            entities: Some(vec![
                tl::types::MessageEntityBold {
                    offset: 0,
                    length: 5,
                }
                .into(),
                tl::types::MessageEntityItalic {
                    offset: 1000,
                    length: 5,
                }
                .into(),
                tl::types::MessageEntityCode {
                    offset: 2,
                    length: -4,
                }
                .into(),
            ]),
            schedule_date: None,
            schedule_repeat_period: None,
            send_as: None,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            quick_reply_shortcut: None,
            effect: None,
            allow_paid_floodskip: false,
            allow_paid_stars: None,
            suggested_post: None,
            rich_message: None,
        })
        .await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let got = says(&bob, &room, "short <text>").await?;
    assert_eq!(
        got["content"]["formatted_body"],
        "<strong>short</strong> &lt;text&gt;"
    );

    // From Matrix: script and event handlers are dropped, the rest styles.
    let html = json!({
        "msgtype": "m.text", "body": "bold and safe",
        "format": "org.matrix.custom.html",
        "formatted_body": "<script>alert(1)</script><b onclick=\"steal()\">bold</b> and <img src=x onerror=alert(2)>safe",
    });
    bob.send(&room, "m.room.message", html).await?;
    let got = next_incoming(&mut carol_updates).await?;
    assert_eq!(got.text(), "bold and safe");
    assert_eq!(
        got.fmt_entities().map(Vec::as_slice),
        Some(
            &[tl::enums::MessageEntity::Bold(
                tl::types::MessageEntityBold {
                    offset: 0,
                    length: 4
                }
            )][..]
        )
    );
    Ok(())
}
