use super::*;
use crate::state::{Account, AccountSpec};
use grammers_tl_types::{self as tl, Deserializable, Identifiable, Serializable};

fn codec() -> Codec {
    Codec::for_layer(204).expect("layer 204 is known")
}

/// From the server's layer to 204, or back.
fn to_204(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Recode::new(&LAYER_230, &LAYER_204)
        .any(&mut Reader::new(bytes), &mut out)
        .unwrap();
    out
}

fn from_204(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Recode::new(&LAYER_204, &LAYER_230)
        .any(&mut Reader::new(bytes), &mut out)
        .unwrap();
    out
}

fn alice() -> tl::types::User {
    let account = Account {
        id: 1001,
        access_hash: -77,
        spec: AccountSpec {
            phone: "15550001".into(),
            first_name: "Alice".into(),
            last_name: Some("Liddell".into()),
            username: Some("alice".into()),
            password: None,
            home_dc: 2,
            echo: false,
            about: None,
            bot_token: None,
        },
    };
    let tl::enums::User::User(user) = crate::tl_build::user(&account, 1) else {
        unreachable!()
    };
    user
}

fn text_message(text: &str) -> tl::enums::Update {
    tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
        message: tl::enums::Message::Message(crate::tl_build::private_message(
            7,
            false,
            1001,
            1001,
            text,
            1_700_000_000,
        )),
        pts: 3,
        pts_count: 1,
    })
}

fn id_of(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().unwrap())
}

/// The constructor ID a schema's text gives `name`.
fn id_in(schema: &Schema, name: &str) -> u32 {
    schema.named(name).unwrap().id
}

#[test]
fn both_layers_schemas_are_read_whole() {
    assert_eq!((LAYER_204.layer, LAYER_230.layer), (204, SERVER_LAYER));
    assert!(LAYER_204.by_id.len() > 2_000, "{}", LAYER_204.by_id.len());
    assert!(LAYER_230.by_id.len() > 2_000, "{}", LAYER_230.by_id.len());
    assert_eq!(id_in(&LAYER_204, "messages.sendMessage"), 0xfbf2340a);
    assert_eq!(
        id_in(&LAYER_230, "messages.sendMessage"),
        tl::functions::messages::SendMessage::CONSTRUCTOR_ID
    );
}

#[test]
fn the_server_layer_and_unknown_layers_get_no_codec() {
    assert!(Codec::for_layer(SERVER_LAYER).is_none());
    assert!(Codec::for_layer(150).is_none());
}

#[test]
fn a_layer_204_send_message_reaches_the_server_as_its_own_request() {
    // messages.sendMessage#fbf2340a flags:# ... peer:InputPeer
    // message:string random_id:long, with `silent` (flags.5) set.
    let mut request = 0xfbf2340au32.to_le_bytes().to_vec();
    request.extend((1u32 << 5).to_le_bytes());
    request.extend(tl::enums::InputPeer::PeerSelf.to_bytes());
    request.extend("hello from 204".to_owned().to_bytes());
    request.extend(42i64.to_le_bytes());

    let at_230 = codec().request(&request).unwrap();
    assert_eq!(
        id_of(&at_230),
        tl::functions::messages::SendMessage::CONSTRUCTOR_ID
    );
    let parsed = tl::functions::messages::SendMessage::from_bytes(&at_230[4..]).unwrap();
    assert!(parsed.silent && !parsed.no_webpage);
    assert_eq!(parsed.peer, tl::enums::InputPeer::PeerSelf);
    assert_eq!(parsed.message, "hello from 204");
    assert_eq!(parsed.random_id, 42);
    assert_eq!(parsed.schedule_repeat_period, None);
}

#[test]
fn a_user_goes_to_layer_204_and_back_unchanged() {
    let user = tl::enums::User::User(alice());
    let at_204 = to_204(&user.to_bytes());
    assert_eq!(id_of(&at_204), 0x020b1422, "layer 204's `user`");
    let back = tl::enums::User::from_bytes(&from_204(&at_204)).unwrap();
    assert_eq!(back, user);
}

#[test]
fn a_field_whose_type_changed_between_layers_is_left_out() {
    let mut user = alice();
    user.stories_max_id = Some(tl::enums::RecentStory::Story(tl::types::RecentStory {
        live: false,
        max_id: Some(5),
    }));
    let at_204 = to_204(&tl::enums::User::User(user.clone()).to_bytes());
    let tl::enums::User::User(back) = tl::enums::User::from_bytes(&from_204(&at_204)).unwrap()
    else {
        panic!("not a user")
    };
    assert_eq!(back.stories_max_id, None);
    user.stories_max_id = None;
    assert_eq!(back, user);
}

#[test]
fn a_required_field_the_server_layer_lacks_is_sent_as_zero() {
    // 230: messageActionSetChatTheme theme:ChatTheme; 204: emoticon:string.
    let action = tl::enums::MessageAction::SetChatTheme(tl::types::MessageActionSetChatTheme {
        theme: tl::enums::ChatTheme::Theme(tl::types::ChatTheme {
            emoticon: "🌸".into(),
        }),
    });
    let at_204 = to_204(&action.to_bytes());
    let mut expected = 0xaa786345u32.to_le_bytes().to_vec();
    expected.extend([0, 0, 0, 0]);
    assert_eq!(at_204, expected);
}

#[test]
fn an_update_layer_204_lacks_is_left_out_of_a_push() {
    let pinned = tl::enums::Update::PinnedForumTopic(tl::types::UpdatePinnedForumTopic {
        pinned: true,
        peer: crate::tl_build::peer_user(1001),
        topic_id: 1,
    });
    let updates = tl::enums::Updates::Updates(tl::types::Updates {
        updates: vec![pinned, text_message("still here")],
        users: vec![tl::enums::User::User(alice())],
        chats: vec![],
        date: 1_700_000_000,
        seq: 0,
    });
    let at_204 = codec().updates(&updates.to_bytes()).unwrap();
    let tl::enums::Updates::Updates(back) =
        tl::enums::Updates::from_bytes(&from_204(&at_204)).unwrap()
    else {
        panic!("not updates")
    };
    assert_eq!(back.updates, vec![text_message("still here")]);
    assert_eq!(back.users, vec![tl::enums::User::User(alice())]);
}

#[test]
fn an_answer_is_encoded_by_its_function_result_type() {
    let users: Vec<tl::enums::User> = vec![tl::enums::User::User(alice())];
    let answer = codec()
        .answer(
            tl::functions::users::GetUsers::CONSTRUCTOR_ID,
            &users.to_bytes(),
        )
        .unwrap();
    assert_eq!(id_of(&answer), VECTOR);
    assert_eq!(id_of(&answer[4..]), 1, "one user");
    assert_eq!(id_of(&answer[8..]), 0x020b1422);

    // A vector of ints has no constructors to go by.
    let ids: Vec<i32> = vec![5, 6];
    let function = id_in(&LAYER_230, "messages.getMessagesViews");
    let err = codec().answer(function, &ids.to_bytes());
    assert!(err.is_err(), "a views answer is not a vector of ints");
    let function = id_in(&LAYER_230, "contacts.getContactIDs");
    assert_eq!(
        codec().answer(function, &ids.to_bytes()).unwrap(),
        ids.to_bytes()
    );
}

#[test]
fn a_truncated_value_is_an_error_not_a_panic() {
    let user = tl::enums::User::User(alice()).to_bytes();
    for cut in [0, 3, 4, 9, user.len() / 2, user.len() - 1] {
        let err = codec().updates(&user[..cut]);
        assert!(err.is_err(), "cut at {cut}");
    }
}
