//! User, alias and third-party queries: the network decides, the core creates.

use super::authorize;
use super::errors::{Empty, MatrixError};
use crate::bridge::Bridge;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::Json;
use serde_json::Value;
use std::collections::BTreeMap;

type Fields = Query<BTreeMap<String, String>>;

pub(super) async fn query_user(
    State(bridge): State<Bridge>,
    Path(user_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Empty>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    let Some(remote) = bridge.ghost_remote_id(&user_id) else {
        return Err(outside(&bridge, &user_id, '@'));
    };
    let Some(queries) = bridge.network().queries() else {
        return Err(MatrixError::not_found(
            "this bridge does not create users on demand",
        ));
    };
    match queries
        .ghost_for_user(&remote)
        .await
        .map_err(MatrixError::internal)?
    {
        Some(info) => {
            bridge
                .ensure_ghost(&info)
                .await
                .map_err(MatrixError::internal)?;
            Ok(Json(Empty {}))
        }
        None => Err(MatrixError::not_found(format!("no remote user {remote}"))),
    }
}

/// A query for an ID this bridge does not make, refused with the bridge
/// and the namespace it answers for, so that an admin reading the log sees
/// which registration claimed too much.
fn outside(bridge: &Bridge, id: &str, sigil: char) -> MatrixError {
    let config = bridge.config();
    let template = match sigil {
        '@' => &config.bridge.username_template,
        _ => &config.bridge.alias_template,
    };
    let namespace = crate::registration::template_regex(
        sigil,
        template,
        &config.homeserver.domain,
        &bridge.network().id_prefixes(),
    );
    MatrixError::not_found(format!(
        "{id} is not in the {} bridge's namespace {namespace}",
        bridge.network().info().id
    ))
}

pub(super) async fn query_alias(
    State(bridge): State<Bridge>,
    Path(alias): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Empty>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    let Some(id) = bridge.alias_id(&alias).map(str::to_owned) else {
        return Err(outside(&bridge, &alias, '#'));
    };
    let Some(queries) = bridge.network().queries() else {
        return Err(MatrixError::not_found(
            "this bridge does not create rooms on demand",
        ));
    };
    let Some(mut info) = queries
        .portal_for_alias(&id)
        .await
        .map_err(MatrixError::internal)?
    else {
        return Err(MatrixError::not_found(format!(
            "no remote chat for {alias}"
        )));
    };
    info.alias_id = Some(id.clone());
    let existing = bridge
        .store()
        .get_portal(&info.key)
        .await
        .map_err(MatrixError::internal)?;
    match existing.and_then(|p| p.room_id) {
        // The portal exists under no alias yet: publish this one for it.
        Some(room) => {
            let room = Bridge::parse_room(&room).map_err(MatrixError::internal)?;
            bridge
                .publish_alias(&id, &room)
                .await
                .map_err(MatrixError::internal)?;
        }
        None => {
            bridge
                .ensure_portal_room(&info)
                .await
                .map_err(MatrixError::internal)?;
        }
    }
    Ok(Json(Empty {}))
}

/// The network's lookups, if it has them and `protocol` (when given) is its.
fn lookups<'a>(
    bridge: &'a Bridge,
    protocol: Option<&str>,
) -> Result<&'a dyn crate::network::ThirdPartyHandling, MatrixError> {
    let handler = bridge
        .network()
        .third_party()
        .ok_or_else(|| MatrixError::not_found("this bridge has no third-party lookups"))?;
    match protocol {
        Some(protocol) if protocol != bridge.network().info().id => Err(MatrixError::not_found(
            format!("unknown protocol {protocol}"),
        )),
        _ => Ok(handler),
    }
}

/// A lookup's answer: the list, or 404 when it is empty.
fn found(list: anyhow::Result<Vec<Value>>, what: &str) -> Result<Json<Value>, MatrixError> {
    let list = list.map_err(MatrixError::internal)?;
    if list.is_empty() {
        return Err(MatrixError::not_found(format!("no such {what}")));
    }
    Ok(Json(Value::Array(list)))
}

fn required<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, MatrixError> {
    fields.get(name).map(String::as_str).ok_or_else(|| {
        MatrixError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
            format!("{name} is required"),
        )
    })
}

pub(super) async fn thirdparty_protocol(
    State(bridge): State<Bridge>,
    Path(protocol): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    let handler = lookups(&bridge, Some(&protocol))?;
    Ok(Json(
        handler.protocol().await.map_err(MatrixError::internal)?,
    ))
}

pub(super) async fn thirdparty_locations(
    State(bridge): State<Bridge>,
    Path(protocol): Path<String>,
    Query(fields): Fields,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    found(
        lookups(&bridge, Some(&protocol))?.locations(&fields).await,
        "location",
    )
}

pub(super) async fn thirdparty_users(
    State(bridge): State<Bridge>,
    Path(protocol): Path<String>,
    Query(fields): Fields,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    found(
        lookups(&bridge, Some(&protocol))?.users(&fields).await,
        "user",
    )
}

pub(super) async fn thirdparty_location_by_alias(
    State(bridge): State<Bridge>,
    Query(fields): Fields,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    found(
        lookups(&bridge, None)?
            .location_by_alias(required(&fields, "alias")?)
            .await,
        "location for that alias",
    )
}

pub(super) async fn thirdparty_user_by_id(
    State(bridge): State<Bridge>,
    Query(fields): Fields,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    found(
        lookups(&bridge, None)?
            .user_by_id(required(&fields, "userid")?)
            .await,
        "remote user for that user ID",
    )
}
