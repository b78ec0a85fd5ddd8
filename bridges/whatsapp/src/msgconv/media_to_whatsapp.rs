//! Matrix files into WhatsApp: the file is fetched from the homeserver
//! (and only from there, up to the size limit), encrypted and uploaded to
//! WhatsApp's media host, and sent as a photo, video, voice or audio
//! message, or a document, with the event's caption.

use anyhow::{bail, Context, Result};
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::Bridge;
use ruma::events::room::message::MessageType;
use whatsapp_rust::download::MediaType;
use whatsapp_rust::upload::{UploadOptions, UploadResponse};

/// Where WhatsApp's media host keeps an uploaded file, and its keys.
pub struct Uploaded {
    pub url: String,
    pub direct_path: String,
    pub media_key: [u8; 32],
    pub file_enc_sha256: [u8; 32],
    pub file_sha256: [u8; 32],
    pub file_length: u64,
}

impl From<UploadResponse> for Uploaded {
    fn from(up: UploadResponse) -> Self {
        Self {
            url: up.url,
            direct_path: up.direct_path,
            media_key: up.media_key,
            file_enc_sha256: up.file_enc_sha256,
            file_sha256: up.file_sha256,
            file_length: up.file_length,
        }
    }
}
use whatsapp_rust::waproto::buffa::MessageField;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Client;

/// The formats WhatsApp shows as photos; other images go as documents.
const PHOTO_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
/// WhatsApp's limit for photos, videos and audio; larger ones go as
/// documents, which may be bigger.
const MEDIA_MAX_BYTES: usize = 16 * 1024 * 1024;

/// How a Matrix file is sent to WhatsApp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Photo,
    Video,
    Voice,
    Audio,
    Document,
}

/// A Matrix file event's `mxc://` source, name, type and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixFile {
    pub mxc: String,
    pub name: String,
    pub mimetype: String,
    pub shape: Shape,
}

/// The file a Matrix message carries, if any.
pub fn file_of(message: &MatrixMessage) -> Option<MatrixFile> {
    let mxc = message.url.clone()?;
    let (name, _) = message.file_name_and_size();
    let (mimetype, shape) = match &message.content.msgtype {
        MessageType::Image(image) => {
            let mime = image.info.as_ref().and_then(|i| i.mimetype.clone());
            let photo = mime.as_deref().is_some_and(|m| PHOTO_TYPES.contains(&m));
            (mime, if photo { Shape::Photo } else { Shape::Document })
        }
        MessageType::Video(video) => (
            video.info.as_ref().and_then(|i| i.mimetype.clone()),
            Shape::Video,
        ),
        MessageType::Audio(audio) => (
            audio.info.as_ref().and_then(|i| i.mimetype.clone()),
            if audio.voice.is_some() {
                Shape::Voice
            } else {
                Shape::Audio
            },
        ),
        MessageType::File(file) => (
            file.info.as_ref().and_then(|i| i.mimetype.clone()),
            Shape::Document,
        ),
        _ => return None,
    };
    Some(MatrixFile {
        mxc,
        name: name.to_owned(),
        mimetype: mimetype.unwrap_or_else(|| "application/octet-stream".into()),
        shape,
    })
}

/// The caption of a Matrix file event: its body when that is not just the
/// file name (the Matrix 1.10 rule).
pub fn caption(message: &MatrixMessage) -> Option<String> {
    let (name, _) = message.file_name_and_size();
    (message.body != name && !message.body.is_empty()).then(|| message.body.clone())
}

/// Fetches the file from the homeserver, uploads it to WhatsApp and
/// returns the message that carries it.
pub async fn message(
    bridge: &Bridge,
    client: &Client,
    file: &MatrixFile,
    caption: Option<String>,
    max_bytes: u64,
) -> Result<wa::Message> {
    let data = bridge
        .homeserver()
        .download_at_most(&file.mxc, max_bytes)
        .await
        .with_context(|| {
            format!(
                "cannot send {} to WhatsApp: it could not be fetched, or is over the bridge's limit of {} MiB",
                file.name,
                max_bytes / (1024 * 1024)
            )
        })?;
    if data.is_empty() {
        bail!("{} is empty; WhatsApp takes no empty files", file.name);
    }
    // Photos, videos and audio over WhatsApp's media limit go as documents.
    let shape = match file.shape {
        Shape::Document => Shape::Document,
        _ if data.len() > MEDIA_MAX_BYTES => Shape::Document,
        shape => shape,
    };
    let media_type = match shape {
        Shape::Photo => MediaType::Image,
        Shape::Video => MediaType::Video,
        Shape::Voice | Shape::Audio => MediaType::Audio,
        Shape::Document => MediaType::Document,
    };
    let uploaded = client
        .upload(data, media_type, UploadOptions::default())
        .await
        .context("WhatsApp's media host did not take the file")?;
    Ok(build(file, shape, uploaded.into(), caption))
}

fn build(file: &MatrixFile, shape: Shape, up: Uploaded, caption: Option<String>) -> wa::Message {
    let mimetype = Some(file.mimetype.clone());
    let (url, direct_path, length) = (Some(up.url), Some(up.direct_path), Some(up.file_length));
    let (key, enc, sha) = (
        Some(up.media_key.to_vec()),
        Some(up.file_enc_sha256.to_vec()),
        Some(up.file_sha256.to_vec()),
    );
    let mut message = wa::Message::default();
    match shape {
        Shape::Photo => {
            message.image_message = MessageField::some(wa::message::ImageMessage {
                url,
                direct_path,
                media_key: key,
                file_enc_sha256: enc,
                file_sha256: sha,
                file_length: length,
                mimetype,
                caption,
                ..Default::default()
            })
        }
        Shape::Video => {
            message.video_message = MessageField::some(wa::message::VideoMessage {
                url,
                direct_path,
                media_key: key,
                file_enc_sha256: enc,
                file_sha256: sha,
                file_length: length,
                mimetype,
                caption,
                ..Default::default()
            })
        }
        Shape::Voice | Shape::Audio => {
            message.audio_message = MessageField::some(wa::message::AudioMessage {
                url,
                direct_path,
                media_key: key,
                file_enc_sha256: enc,
                file_sha256: sha,
                file_length: length,
                mimetype,
                ptt: Some(shape == Shape::Voice),
                ..Default::default()
            })
        }
        Shape::Document => {
            message.document_message = MessageField::some(wa::message::DocumentMessage {
                url,
                direct_path,
                media_key: key,
                file_enc_sha256: enc,
                file_sha256: sha,
                file_length: length,
                mimetype,
                file_name: Some(file.name.clone()),
                title: Some(file.name.clone()),
                caption,
                ..Default::default()
            })
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploaded() -> Uploaded {
        Uploaded {
            url: "https://mmg.whatsapp.net/x".into(),
            direct_path: "/x".into(),
            media_key: [1; 32],
            file_enc_sha256: [2; 32],
            file_sha256: [3; 32],
            file_length: 10,
        }
    }

    fn file(mimetype: &str, shape: Shape) -> MatrixFile {
        MatrixFile {
            mxc: "mxc://localhost/a".into(),
            name: "a.bin".into(),
            mimetype: mimetype.into(),
            shape,
        }
    }

    #[test]
    fn a_voice_message_is_audio_marked_push_to_talk() {
        let got = build(
            &file("audio/ogg", Shape::Voice),
            Shape::Voice,
            uploaded(),
            None,
        );
        assert_eq!(
            got.audio_message.as_option().and_then(|a| a.ptt),
            Some(true)
        );
    }

    #[test]
    fn a_document_keeps_its_name_and_caption() {
        let got = build(
            &file("application/pdf", Shape::Document),
            Shape::Document,
            uploaded(),
            Some("see this".into()),
        );
        let document = got.document_message.as_option().unwrap();
        assert_eq!(document.file_name.as_deref(), Some("a.bin"));
        assert_eq!(document.caption.as_deref(), Some("see this"));
    }
}
