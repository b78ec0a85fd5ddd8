//! Telegram files into Matrix: photos, documents, stickers, voice notes,
//! videos and GIFs are downloaded from Telegram and uploaded to the
//! homeserver. A caption becomes the event's body next to `filename`, the
//! way Matrix 1.10 marks captions.

use anyhow::{bail, Result};
use causeway_core::Bridge;
use grammers_client::media::{Document, Media};
use grammers_client::tl;
use grammers_client::Client;
use serde_json::{json, Value};

/// What a Telegram file is in Matrix terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileKind {
    pub msgtype: &'static str,
    pub name: String,
    pub mimetype: String,
    /// A voice note rather than an audio file (MSC3245).
    pub voice: bool,
    /// A GIF, which Telegram keeps as a silent looping MP4.
    pub gif: bool,
}

/// The kind of a downloadable medium; `None` for what is not a file
/// (locations, contacts, polls…).
pub fn kind(media: &Media) -> Option<FileKind> {
    match media {
        Media::Photo(_) => Some(FileKind {
            msgtype: "m.image",
            name: "photo.jpg".into(),
            mimetype: "image/jpeg".into(),
            voice: false,
            gif: false,
        }),
        Media::Sticker(sticker) => Some(document_kind(&sticker.document, true)),
        Media::Document(document) => Some(document_kind(document, false)),
        _ => None,
    }
}

fn document_kind(document: &Document, sticker: bool) -> FileKind {
    let mimetype = document
        .mime_type()
        .unwrap_or("application/octet-stream")
        .to_owned();
    let attributes = match &document.raw.document {
        Some(tl::enums::Document::Document(d)) => d.attributes.as_slice(),
        _ => &[],
    };
    let has = |wanted: fn(&tl::enums::DocumentAttribute) -> bool| attributes.iter().any(wanted);
    let voice = document.raw.voice
        || has(|a| matches!(a, tl::enums::DocumentAttribute::Audio(a) if a.voice));
    let gif = has(|a| matches!(a, tl::enums::DocumentAttribute::Animated))
        && mimetype.starts_with("video/");
    let msgtype = if voice || has(|a| matches!(a, tl::enums::DocumentAttribute::Audio(_))) {
        "m.audio"
    } else if gif
        || document.raw.video
        || document.raw.round
        || has(|a| matches!(a, tl::enums::DocumentAttribute::Video(_)))
    {
        "m.video"
    } else if mimetype.starts_with("image/") && (sticker || mimetype != "image/gif") {
        "m.image"
    } else {
        "m.file"
    };
    let name = document
        .name()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let extension = mimetype.rsplit('/').next().unwrap_or("bin");
            let stem = if sticker { "sticker" } else { "file" };
            format!("{stem}.{extension}")
        });
    FileKind {
        msgtype,
        name,
        mimetype,
        voice,
        gif,
    }
}

/// The Matrix content of a Telegram file with its caption (`body` and
/// `html`, empty when there is none). A file over `max_bytes` is not
/// fetched: the room is told its name and size instead.
pub async fn content(
    bridge: &Bridge,
    client: &Client,
    media: &Media,
    body: &str,
    html: Option<&str>,
    max_bytes: u64,
) -> Result<Option<Value>> {
    let Some(kind) = kind(media) else {
        return Ok(None);
    };
    let size = media.size().map(|n| n as u64);
    if size.is_some_and(|n| n > max_bytes) {
        let notice = format!(
            "{} ({}) was not bridged: the bridge takes files up to {}.",
            kind.name,
            human_size(size.unwrap_or_default()),
            human_size(max_bytes)
        );
        let mut content = causeway_core::remote::text_content("m.notice", &notice, None);
        if !body.is_empty() {
            content["body"] = json!(format!("{body}\n\n{notice}"));
        }
        return Ok(Some(content));
    }
    let mut download = client.iter_download(media);
    let mut data = Vec::new();
    while let Some(chunk) = download.next().await? {
        data.extend_from_slice(&chunk);
        if data.len() as u64 > max_bytes {
            bail!("{} grew past the size limit while downloading", kind.name);
        }
    }
    let length = data.len();
    let mxc = bridge
        .homeserver()
        .upload(bridge.bot(), data, &kind.mimetype, &kind.name)
        .await?;
    Ok(Some(matrix_content(&kind, &mxc, length, body, html)))
}

/// A size as people read it: bytes, KiB or MiB with one decimal.
fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} bytes"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// The event content of an uploaded file.
pub fn matrix_content(
    kind: &FileKind,
    mxc: &str,
    size: usize,
    body: &str,
    html: Option<&str>,
) -> Value {
    let mut content = json!({
        "msgtype": kind.msgtype,
        "body": if body.is_empty() { kind.name.as_str() } else { body },
        "filename": kind.name,
        "url": mxc,
        "info": { "mimetype": kind.mimetype, "size": size },
    });
    if let (false, Some(html)) = (body.is_empty(), html) {
        content["format"] = json!("org.matrix.custom.html");
        content["formatted_body"] = json!(html);
    }
    if kind.voice {
        content["org.matrix.msc3245.voice"] = json!({});
        content["org.matrix.msc1767.audio"] = json!({});
    }
    if kind.gif {
        content["info"]["fi.mau.gif"] = json!(true);
        content["info"]["fi.mau.loop"] = json!(true);
        content["info"]["fi.mau.autoplay"] = json!(true);
        content["info"]["fi.mau.hide_controls"] = json!(true);
        content["info"]["fi.mau.no_audio"] = json!(true);
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(
        mime: &str,
        attributes: Vec<tl::enums::DocumentAttribute>,
        voice: bool,
    ) -> Document {
        Document {
            raw: tl::types::MessageMediaDocument {
                nopremium: false,
                spoiler: false,
                video: false,
                round: false,
                voice,
                document: Some(tl::enums::Document::Document(tl::types::Document {
                    id: 1,
                    access_hash: 2,
                    file_reference: vec![],
                    date: 0,
                    mime_type: mime.into(),
                    size: 10,
                    thumbs: None,
                    video_thumbs: None,
                    dc_id: 2,
                    attributes,
                })),
                alt_documents: None,
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
            },
        }
    }

    fn audio(voice: bool) -> tl::enums::DocumentAttribute {
        tl::enums::DocumentAttribute::Audio(tl::types::DocumentAttributeAudio {
            voice,
            duration: 3,
            title: None,
            performer: None,
            waveform: None,
        })
    }

    #[test]
    fn a_voice_note_is_audio_marked_as_voice() {
        let kind = document_kind(&document("audio/ogg", vec![audio(true)], true), false);
        assert_eq!((kind.msgtype, kind.voice), ("m.audio", true));
        let content = matrix_content(&kind, "mxc://hs/a", 10, "", None);
        assert!(content.get("org.matrix.msc3245.voice").is_some());
        assert_eq!(content["body"], "file.ogg");
    }

    #[test]
    fn a_gif_is_a_looping_video_and_a_named_pdf_a_file() {
        let gif = document_kind(
            &document(
                "video/mp4",
                vec![tl::enums::DocumentAttribute::Animated],
                false,
            ),
            false,
        );
        assert_eq!((gif.msgtype, gif.gif), ("m.video", true));
        let pdf = document_kind(
            &document(
                "application/pdf",
                vec![tl::enums::DocumentAttribute::Filename(
                    tl::types::DocumentAttributeFilename {
                        file_name: "notes.pdf".into(),
                    },
                )],
                false,
            ),
            false,
        );
        assert_eq!((pdf.msgtype, pdf.name.as_str()), ("m.file", "notes.pdf"));
    }

    #[test]
    fn sizes_read_in_the_largest_whole_unit() {
        assert_eq!(human_size(1000), "1000 bytes");
        assert_eq!(human_size(5000), "4.9 KiB");
        assert_eq!(human_size(50 * 1_048_576), "50.0 MiB");
    }

    #[test]
    fn a_caption_is_the_body_beside_the_file_name() {
        let kind = document_kind(&document("image/png", vec![], false), false);
        let content = matrix_content(&kind, "mxc://hs/a", 10, "look", Some("<b>look</b>"));
        assert_eq!(content["msgtype"], "m.image");
        assert_eq!(content["body"], "look");
        assert_eq!(content["filename"], "file.png");
        assert_eq!(content["formatted_body"], "<b>look</b>");
    }
}
