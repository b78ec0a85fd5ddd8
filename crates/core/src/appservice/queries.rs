//! User, alias and third-party queries: the network decides, the core creates.

use super::{authorize, errors::MatrixError};
use crate::bridge::Bridge;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;

type Fields = Query<BTreeMap<String, String>>;

pub(super) async fn query_user(
    State(bridge): State<Bridge>,
    Path(user_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    let Some(remote) = bridge.ghost_remote_id(&user_id) else {
        return Err(MatrixError::not_found("not a user of this bridge"));
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
            Ok(Json(json!({})))
        }
        None => Err(MatrixError::not_found(format!("no remote user {remote}"))),
    }
}

pub(super) async fn query_alias(
    State(bridge): State<Bridge>,
    Path(alias): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    let Some(id) = bridge.alias_id(&alias).map(str::to_owned) else {
        return Err(MatrixError::not_found("not an alias of this bridge"));
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
    Ok(Json(json!({})))
}

fn third_party(bridge: &Bridge, protocol: &str) -> Result<&'static str, MatrixError> {
    let id = bridge.network().info().id;
    if protocol != id || bridge.network().third_party().is_none() {
        return Err(MatrixError::not_found(format!(
            "unknown protocol {protocol}"
        )));
    }
    Ok(id)
}

pub(super) async fn thirdparty_protocol(
    State(bridge): State<Bridge>,
    Path(protocol): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    third_party(&bridge, &protocol)?;
    let handler = bridge
        .network()
        .third_party()
        .ok_or_else(MatrixError::unrecognized)?;
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
    third_party(&bridge, &protocol)?;
    let handler = bridge
        .network()
        .third_party()
        .ok_or_else(MatrixError::unrecognized)?;
    let found = handler
        .locations(&fields)
        .await
        .map_err(MatrixError::internal)?;
    if found.is_empty() {
        return Err(MatrixError::not_found("no such location"));
    }
    Ok(Json(Value::Array(found)))
}

pub(super) async fn thirdparty_users(
    State(bridge): State<Bridge>,
    Path(protocol): Path<String>,
    Query(fields): Fields,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    third_party(&bridge, &protocol)?;
    let handler = bridge
        .network()
        .third_party()
        .ok_or_else(MatrixError::unrecognized)?;
    let found = handler
        .users(&fields)
        .await
        .map_err(MatrixError::internal)?;
    if found.is_empty() {
        return Err(MatrixError::not_found("no such user"));
    }
    Ok(Json(Value::Array(found)))
}

pub(super) async fn thirdparty_location_by_alias(
    State(bridge): State<Bridge>,
    Query(fields): Fields,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    let handler = bridge
        .network()
        .third_party()
        .ok_or_else(|| MatrixError::not_found("no third-party lookups"))?;
    let alias = fields.get("alias").ok_or_else(|| {
        MatrixError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
            "alias is required",
        )
    })?;
    let found = handler
        .location_by_alias(alias)
        .await
        .map_err(MatrixError::internal)?;
    if found.is_empty() {
        return Err(MatrixError::not_found("no location for that alias"));
    }
    Ok(Json(Value::Array(found)))
}

pub(super) async fn thirdparty_user_by_id(
    State(bridge): State<Bridge>,
    Query(fields): Fields,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    let handler = bridge
        .network()
        .third_party()
        .ok_or_else(|| MatrixError::not_found("no third-party lookups"))?;
    let user = fields.get("userid").ok_or_else(|| {
        MatrixError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
            "userid is required",
        )
    })?;
    let found = handler
        .user_by_id(user)
        .await
        .map_err(MatrixError::internal)?;
    if found.is_empty() {
        return Err(MatrixError::not_found("no remote user for that user ID"));
    }
    Ok(Json(Value::Array(found)))
}
