//! Contacts: importing phone numbers, resolving a phone number, the
//! contact list and searching it.

use super::{error, Reply};
use crate::state::State;
use crate::tl_build;
use grammers_tl_types::{self as tl, Serializable};

fn users(state: &State, viewer: i64, ids: &[i64]) -> Vec<tl::enums::User> {
    ids.iter()
        .filter_map(|id| state.account(*id))
        .map(|a| tl_build::user(a, viewer))
        .collect()
}

pub(super) fn import(
    state: &mut State,
    user: i64,
    request: tl::functions::contacts::ImportContacts,
) -> Reply {
    let mut imported = Vec::new();
    let mut retry = Vec::new();
    for contact in request.contacts {
        let tl::enums::InputContact::InputPhoneContact(contact) = contact;
        match state.account_by_phone(&contact.phone).map(|a| a.id) {
            Some(id) => {
                let list = state.contacts.entry(user).or_default();
                if !list.contains(&id) {
                    list.push(id);
                }
                imported.push((id, contact.client_id));
            }
            None => retry.push(contact.client_id),
        }
    }
    let ids: Vec<i64> = imported.iter().map(|(id, _)| *id).collect();
    Ok(
        tl::enums::contacts::ImportedContacts::Contacts(tl::types::contacts::ImportedContacts {
            imported: imported
                .into_iter()
                .map(|(user_id, client_id)| {
                    tl::enums::ImportedContact::Contact(tl::types::ImportedContact {
                        user_id,
                        client_id,
                    })
                })
                .collect(),
            popular_invites: Vec::new(),
            retry_contacts: retry,
            users: users(state, user, &ids),
        })
        .to_bytes(),
    )
}

pub(super) fn resolve_phone(
    state: &State,
    user: i64,
    request: tl::functions::contacts::ResolvePhone,
) -> Reply {
    let found = state
        .account_by_phone(&request.phone)
        .ok_or_else(|| error(400, "PHONE_NOT_OCCUPIED"))?;
    Ok(
        tl::enums::contacts::ResolvedPeer::Peer(tl::types::contacts::ResolvedPeer {
            peer: tl_build::peer_user(found.id),
            chats: Vec::new(),
            users: vec![tl_build::user(found, user)],
        })
        .to_bytes(),
    )
}

pub(super) fn list(state: &State, user: i64) -> Reply {
    let ids = state.contacts.get(&user).cloned().unwrap_or_default();
    Ok(
        tl::enums::contacts::Contacts::Contacts(tl::types::contacts::Contacts {
            contacts: ids
                .iter()
                .map(|id| {
                    let mutual = state
                        .contacts
                        .get(id)
                        .is_some_and(|theirs| theirs.contains(&user));
                    tl::enums::Contact::Contact(tl::types::Contact {
                        user_id: *id,
                        mutual,
                    })
                })
                .collect(),
            saved_count: ids.len() as i32,
            users: users(state, user, &ids),
        })
        .to_bytes(),
    )
}

/// Contacts whose name or username contains the query, then anyone whose
/// username does.
pub(super) fn search(state: &State, user: i64, request: tl::functions::contacts::Search) -> Reply {
    let query = request.q.to_lowercase();
    let matches = |id: &i64| {
        state.account(*id).is_some_and(|a| {
            let name = format!(
                "{} {}",
                a.spec.first_name,
                a.spec.last_name.clone().unwrap_or_default()
            );
            name.to_lowercase().contains(&query)
                || a.spec
                    .username
                    .as_deref()
                    .is_some_and(|u| u.to_lowercase().contains(&query))
        })
    };
    let mine: Vec<i64> = state
        .contacts
        .get(&user)
        .into_iter()
        .flatten()
        .copied()
        .filter(&matches)
        .collect();
    let others: Vec<i64> = state
        .accounts
        .iter()
        .filter(|a| a.id != user && !mine.contains(&a.id) && a.spec.username.is_some())
        .map(|a| a.id)
        .filter(&matches)
        .collect();
    let limit = usize::try_from(request.limit).unwrap_or(0).max(1);
    let all: Vec<i64> = mine.iter().chain(&others).copied().take(limit).collect();
    Ok(
        tl::enums::contacts::Found::Found(tl::types::contacts::Found {
            my_results: mine
                .iter()
                .take(limit)
                .map(|id| tl_build::peer_user(*id))
                .collect(),
            results: others.iter().map(|id| tl_build::peer_user(*id)).collect(),
            chats: Vec::new(),
            users: users(state, user, &all),
        })
        .to_bytes(),
    )
}
