//! Files: uploaded in parts, sent as a photo or a document, and downloaded
//! in chunks, byte for byte what was uploaded.

use super::messages::Draft;
use super::{error, Reply};
use crate::state::{State, StoredFile};
use crate::tl_build::now;
use grammers_tl_types::{self as tl, Serializable};

pub(super) fn save_part(
    state: &mut State,
    user: i64,
    file_id: i64,
    part: i32,
    bytes: Vec<u8>,
) -> Reply {
    state
        .uploads
        .entry((user, file_id))
        .or_default()
        .insert(part, bytes);
    Ok(true.to_bytes())
}

/// The bytes of an uploaded file, its parts in order; the upload is
/// consumed.
fn take_upload(
    state: &mut State,
    user: i64,
    file: &tl::enums::InputFile,
) -> Result<(Vec<u8>, String), super::RpcError> {
    let (id, parts, name) = match file {
        tl::enums::InputFile::File(f) => (f.id, f.parts, f.name.clone()),
        tl::enums::InputFile::Big(f) => (f.id, f.parts, f.name.clone()),
        _ => return Err(error(400, "FILE_PARTS_INVALID")),
    };
    let uploaded = state
        .uploads
        .remove(&(user, id))
        .ok_or_else(|| error(400, "FILE_PART_0_MISSING"))?;
    if uploaded.len() != usize::try_from(parts).unwrap_or(0)
        || uploaded.keys().copied().ne(0..parts)
    {
        return Err(error(400, "FILE_PARTS_INVALID"));
    }
    Ok((uploaded.into_values().flatten().collect(), name))
}

fn store(state: &mut State, bytes: Vec<u8>) -> (i64, i64) {
    let (id, access_hash) = (rand::random::<i64>() & i64::MAX, rand::random::<i64>());
    state.files.insert(id, StoredFile { access_hash, bytes });
    (id, access_hash)
}

/// `messages.sendMedia` with a freshly uploaded photo or document; the
/// message is then sent like text, with the media attached.
pub(super) fn send_media(
    state: &mut State,
    user: i64,
    request: tl::functions::messages::SendMedia,
) -> Result<Draft, super::RpcError> {
    let media = match request.media {
        tl::enums::InputMedia::UploadedPhoto(photo) => {
            let (bytes, _) = take_upload(state, user, &photo.file)?;
            let size = bytes.len() as i32;
            let (id, access_hash) = store(state, bytes);
            tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
                spoiler: false,
                live_photo: false,
                photo: Some(tl::enums::Photo::Photo(tl::types::Photo {
                    has_stickers: false,
                    id,
                    access_hash,
                    file_reference: vec![1],
                    date: now(),
                    sizes: vec![tl::enums::PhotoSize::Size(tl::types::PhotoSize {
                        r#type: "x".into(),
                        w: 800,
                        h: 600,
                        size,
                    })],
                    video_sizes: None,
                    dc_id: 2,
                })),
                ttl_seconds: None,
                video: None,
            })
        }
        tl::enums::InputMedia::UploadedDocument(document) => {
            let (bytes, name) = take_upload(state, user, &document.file)?;
            let size = bytes.len() as i64;
            let (id, access_hash) = store(state, bytes);
            let mut attributes = document.attributes;
            if !attributes
                .iter()
                .any(|a| matches!(a, tl::enums::DocumentAttribute::Filename(_)))
            {
                attributes.push(tl::enums::DocumentAttribute::Filename(
                    tl::types::DocumentAttributeFilename { file_name: name },
                ));
            }
            tl::enums::MessageMedia::Document(tl::types::MessageMediaDocument {
                nopremium: false,
                spoiler: false,
                video: false,
                round: false,
                voice: false,
                document: Some(tl::enums::Document::Document(tl::types::Document {
                    id,
                    access_hash,
                    file_reference: vec![1],
                    date: now(),
                    mime_type: document.mime_type,
                    size,
                    thumbs: None,
                    video_thumbs: None,
                    dc_id: 2,
                    attributes,
                })),
                alt_documents: None,
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
            })
        }
        _ => return Err(error(400, "MEDIA_INVALID")),
    };
    Ok(Draft {
        peer: request.peer,
        text: request.message,
        entities: request.entities,
        media: Some(media),
        random_id: request.random_id,
        fwd_from: None,
        reply_to: super::messages::reply_id(&request.reply_to),
    })
}

/// `upload.getFile`: a chunk of a stored photo or document.
pub(super) fn get_file(state: &State, request: tl::functions::upload::GetFile) -> Reply {
    // A chat photo is named by its ID alone, next to its peer.
    let (id, access_hash) = match &request.location {
        tl::enums::InputFileLocation::InputPhotoFileLocation(l) => (l.id, Some(l.access_hash)),
        tl::enums::InputFileLocation::InputDocumentFileLocation(l) => (l.id, Some(l.access_hash)),
        tl::enums::InputFileLocation::InputPeerPhotoFileLocation(l) => (l.photo_id, None),
        _ => return Err(error(400, "LOCATION_INVALID")),
    };
    let file = state
        .files
        .get(&id)
        .filter(|f| access_hash.is_none_or(|hash| f.access_hash == hash))
        .ok_or_else(|| error(400, "FILE_REFERENCE_EXPIRED"))?;
    let start = usize::try_from(request.offset)
        .unwrap_or(usize::MAX)
        .min(file.bytes.len());
    let end = start
        .saturating_add(usize::try_from(request.limit).unwrap_or(0))
        .min(file.bytes.len());
    Ok(tl::enums::upload::File::File(tl::types::upload::File {
        r#type: tl::enums::storage::FileType::FileUnknown,
        mtime: now(),
        bytes: file.bytes[start..end].to_vec(),
    })
    .to_bytes())
}

/// A new chat photo from an uploaded file: its photo ID, or `None` to
/// remove the photo.
pub(super) fn chat_photo(
    state: &mut State,
    user: i64,
    photo: tl::enums::InputChatPhoto,
) -> Result<Option<i64>, super::RpcError> {
    match photo {
        tl::enums::InputChatPhoto::Empty => Ok(None),
        tl::enums::InputChatPhoto::InputChatUploadedPhoto(uploaded) => {
            let file = uploaded
                .file
                .ok_or_else(|| error(400, "PHOTO_FILE_MISSING"))?;
            let (bytes, _) = take_upload(state, user, &file)?;
            Ok(Some(store(state, bytes).0))
        }
        tl::enums::InputChatPhoto::Photo(_) => Err(error(400, "PHOTO_INVALID")),
    }
}
