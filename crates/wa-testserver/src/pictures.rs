//! Profile pictures: a group's admin or an account sets one
//! (`w:profile:picture`, type `set`, the image in `<picture>`), anyone
//! asks for its URL (type `get`), and the media host serves the image at
//! that URL, unencrypted, as WhatsApp's picture servers do.

use crate::conn::{result, Session};
use crate::iq::{attr, error};
use crate::State;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::{Node, NodeContent};
use wacore_binary::Jid;

/// Answers a `w:profile:picture` IQ.
pub fn answer(state: &State, session: &Session, iq: &Node) -> Vec<Node> {
    let id = attr(iq, "id").unwrap_or_default();
    let own = match session {
        Session::LoggedIn { phone, .. } => Some(Jid::pn(phone.as_str()).to_string()),
        _ => None,
    };
    let Some(target) = attr(iq, "target")
        .and_then(|t| t.parse::<Jid>().ok())
        .map(|t| t.to_non_ad_string())
        .or(own)
    else {
        return vec![error(&id, "401", "not-authorized")];
    };
    let picture = iq
        .children()
        .and_then(|c| c.iter().find(|c| c.tag == "picture"));
    if attr(iq, "type").as_deref() == Some("set") {
        let image = picture.and_then(|p| match &p.content {
            Some(NodeContent::Bytes(bytes)) => Some(bytes.clone()),
            _ => None,
        });
        let mut registry = state.registry();
        return match image {
            Some(image) => {
                let picture_id = format!("{}", rand10::random::<u32>());
                state.media.store_picture(&picture_id, image);
                registry.pictures.insert(target, picture_id.clone());
                vec![result(
                    &id,
                    vec![NodeBuilder::new("picture").attr("id", picture_id).build()],
                )]
            }
            None => {
                registry.pictures.remove(&target);
                vec![result(&id, Vec::new())]
            }
        };
    }
    match state.registry().pictures.get(&target) {
        Some(picture_id) => {
            let path = format!("/pp/{picture_id}");
            vec![result(
                &id,
                vec![NodeBuilder::new("picture")
                    .attr("id", picture_id.clone())
                    .attr("type", "image")
                    .attr("url", format!("https://{}{path}", state.media.addr))
                    .attr("direct_path", path)
                    .build()],
            )]
        }
        None => vec![error(&id, "404", "item-not-found")],
    }
}
