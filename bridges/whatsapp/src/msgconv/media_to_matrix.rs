//! WhatsApp media into Matrix: photos, videos, voice and audio, documents
//! and stickers are downloaded (and decrypted) from WhatsApp's media host
//! and uploaded to the homeserver, with their caption as the event's body
//! next to `filename`. A file over the size limit, or one that cannot be
//! fetched, is announced instead, so the room knows it came.

use causeway_core::format::escape_html;
use causeway_core::remote::text_content;
use causeway_core::Bridge;
use serde_json::{json, Value};
use whatsapp_rust::download::Downloadable;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Client;

/// A media message's file, as Matrix will show it.
pub struct MediaFile<'a> {
    pub msgtype: &'static str,
    /// What to call it in words ("photo", "voice message").
    pub what: &'static str,
    pub name: String,
    pub mimetype: String,
    pub caption: Option<&'a str>,
    pub size: Option<u64>,
    pub voice: bool,
    pub source: &'a (dyn Downloadable + Sync),
}

/// The file of a message, if it has one.
pub fn file_of(message: &wa::Message) -> Option<MediaFile<'_>> {
    let mime = |m: &Option<String>, default: &str| m.clone().unwrap_or_else(|| default.to_owned());
    if let Some(image) = message.image_message.as_option() {
        let mimetype = mime(&image.mimetype, "image/jpeg");
        return Some(MediaFile {
            msgtype: "m.image",
            what: "photo",
            name: format!("photo.{}", extension(&mimetype)),
            mimetype,
            caption: image.caption.as_deref(),
            size: image.file_length,
            voice: false,
            source: image,
        });
    }
    if let Some(video) = message
        .video_message
        .as_option()
        .or(message.ptv_message.as_option())
    {
        let mimetype = mime(&video.mimetype, "video/mp4");
        return Some(MediaFile {
            msgtype: "m.video",
            what: "video",
            name: format!("video.{}", extension(&mimetype)),
            mimetype,
            caption: video.caption.as_deref(),
            size: video.file_length,
            voice: false,
            source: video,
        });
    }
    if let Some(audio) = message.audio_message.as_option() {
        let voice = audio.ptt.unwrap_or_default();
        let mimetype = mime(&audio.mimetype, "audio/ogg");
        return Some(MediaFile {
            msgtype: "m.audio",
            what: if voice { "voice message" } else { "audio file" },
            name: format!(
                "{}.{}",
                if voice { "voice" } else { "audio" },
                extension(&mimetype)
            ),
            mimetype,
            caption: None,
            size: audio.file_length,
            voice,
            source: audio,
        });
    }
    let document = message.document_message.as_option().or_else(|| {
        message
            .document_with_caption_message
            .as_option()
            .and_then(|f| f.message.as_option())
            .and_then(|m| m.document_message.as_option())
    });
    if let Some(document) = document {
        return Some(MediaFile {
            msgtype: "m.file",
            what: "document",
            name: document
                .file_name
                .clone()
                .or_else(|| document.title.clone())
                .unwrap_or_else(|| "document".into()),
            mimetype: mime(&document.mimetype, "application/octet-stream"),
            caption: document.caption.as_deref(),
            size: document.file_length,
            voice: false,
            source: document,
        });
    }
    if let Some(sticker) = message.sticker_message.as_option() {
        return Some(MediaFile {
            msgtype: "m.image",
            what: "sticker",
            name: "sticker.webp".into(),
            mimetype: mime(&sticker.mimetype, "image/webp"),
            caption: None,
            size: sticker.file_length,
            voice: false,
            source: sticker,
        });
    }
    None
}

fn extension(mimetype: &str) -> &str {
    match mimetype.split(';').next().unwrap_or_default().trim() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" => "m4a",
        _ => "bin",
    }
}

/// The Matrix content of a media message: the file on the homeserver, or
/// a notice saying why it is not there.
pub async fn content(
    bridge: &Bridge,
    client: &Client,
    file: &MediaFile<'_>,
    max_bytes: u64,
) -> Value {
    if file.size.is_some_and(|size| size > max_bytes) {
        return notice(
            file,
            &format!(
            "it is larger than the bridge's limit of {} MiB; open WhatsApp on your phone to see it",
            max_bytes / (1024 * 1024)
        ),
        );
    }
    let data = match client.download(file.source).await {
        Ok(data) if data.len() as u64 <= max_bytes => data,
        Ok(_) => return notice(file, "it is larger than the bridge's limit"),
        Err(err) => {
            tracing::warn!("cannot download a WhatsApp {}: {err:#}", file.what);
            return notice(file, "it could not be downloaded from WhatsApp");
        }
    };
    let size = data.len();
    match bridge
        .homeserver()
        .upload(bridge.bot(), data, &file.mimetype, &file.name)
        .await
    {
        Ok(mxc) => matrix_content(file, &mxc.to_string(), size),
        Err(err) => {
            tracing::warn!(
                "cannot upload a WhatsApp {} to the homeserver: {err:#}",
                file.what
            );
            notice(file, "the homeserver did not take it")
        }
    }
}

fn notice(file: &MediaFile<'_>, why: &str) -> Value {
    let mut body = format!("A {} was not bridged: {why}.", file.what);
    if let Some(caption) = file.caption {
        body.push_str(&format!("\n\n{caption}"));
    }
    text_content("m.notice", &body, None)
}

/// The event content of an uploaded file.
pub fn matrix_content(file: &MediaFile<'_>, mxc: &str, size: usize) -> Value {
    let body = file.caption.filter(|c| !c.is_empty()).unwrap_or(&file.name);
    let mut content = json!({
        "msgtype": file.msgtype,
        "body": body,
        "filename": file.name,
        "url": mxc,
        "info": { "mimetype": file.mimetype, "size": size },
    });
    if let Some(caption) = file.caption.filter(|c| !c.is_empty()) {
        content["format"] = json!("org.matrix.custom.html");
        content["formatted_body"] = json!(escape_html(caption));
    }
    if file.voice {
        content["org.matrix.msc3245.voice"] = json!({});
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_rust::waproto::buffa::MessageField;

    #[test]
    fn a_voice_note_is_audio_marked_as_voice() {
        let message = wa::Message {
            audio_message: MessageField::some(wa::message::AudioMessage {
                ptt: Some(true),
                mimetype: Some("audio/ogg; codecs=opus".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let file = file_of(&message).unwrap();
        let content = matrix_content(&file, "mxc://localhost/a", 10);
        assert_eq!(content["msgtype"], "m.audio");
        assert_eq!(content["filename"], "voice.ogg");
        assert!(content.get("org.matrix.msc3245.voice").is_some());
    }

    #[test]
    fn a_caption_is_the_body_beside_the_file_name_and_escaped() {
        let message = wa::Message {
            document_message: MessageField::some(wa::message::DocumentMessage {
                file_name: Some("report.pdf".into()),
                caption: Some("<b>read</b> this".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let file = file_of(&message).unwrap();
        let content = matrix_content(&file, "mxc://localhost/a", 10);
        assert_eq!(content["body"], "<b>read</b> this");
        assert_eq!(content["filename"], "report.pdf");
        assert_eq!(content["formatted_body"], "&lt;b&gt;read&lt;/b&gt; this");
    }
}
