//! Matrix files into Telegram: the file is fetched from the homeserver
//! (and only from there, up to the size limit), uploaded to Telegram, and
//! sent as a photo, a voice note, a video or a document, with the event's
//! caption when it has one.

use anyhow::{Context, Result};
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::Bridge;
use grammers_client::{tl, Client};
use ruma::events::room::message::MessageType;
use std::time::Duration;

/// Telegram's limit for a caption, in UTF-16 code units; longer text goes
/// in a message of its own after the file.
pub const CAPTION_LIMIT: usize = 1024;

/// Telegram compresses photos it is given; these formats, under 10 MB,
/// are sent as photos, anything else as a file.
const PHOTO_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
const PHOTO_MAX_BYTES: usize = 10 * 1024 * 1024;

/// How a Matrix file is sent to Telegram.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Photo,
    Voice { duration: Duration },
    Video { duration: Duration, w: i32, h: i32 },
    File,
}

/// What a Matrix file event is: its `mxc://` source, name, type and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixFile {
    pub mxc: String,
    pub name: String,
    pub mimetype: String,
    pub shape: Shape,
}

/// The file a Matrix message carries, if any (encrypted files are not:
/// the bridge does not join encrypted rooms).
pub fn file_of(message: &MatrixMessage) -> Option<MatrixFile> {
    let mxc = message.url.clone()?;
    let (name, _) = message.file_name_and_size();
    let (mimetype, shape) = match &message.content.msgtype {
        MessageType::Image(image) => {
            let mime = image.info.as_ref().and_then(|i| i.mimetype.clone());
            (mime, Shape::Photo)
        }
        MessageType::Audio(audio) => {
            let info = audio.info.as_deref();
            let duration = info.and_then(|i| i.duration).unwrap_or_default();
            let shape = match audio.voice {
                Some(_) => Shape::Voice { duration },
                None => Shape::File,
            };
            (info.and_then(|i| i.mimetype.clone()), shape)
        }
        MessageType::Video(video) => {
            let info = video.info.as_deref();
            let dimension = |d: Option<ruma::UInt>| {
                d.and_then(|d| i32::try_from(u64::from(d)).ok())
                    .unwrap_or(0)
            };
            let shape = Shape::Video {
                duration: info.and_then(|i| i.duration).unwrap_or_default(),
                w: dimension(info.and_then(|i| i.width)),
                h: dimension(info.and_then(|i| i.height)),
            };
            (info.and_then(|i| i.mimetype.clone()), shape)
        }
        MessageType::File(file) => {
            let mime = file.info.as_ref().and_then(|i| i.mimetype.clone());
            (mime, Shape::File)
        }
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
/// file name (the Matrix 1.10 rule), else nothing.
pub fn caption(message: &MatrixMessage) -> Option<&str> {
    let (name, _) = message.file_name_and_size();
    (message.body != name && !message.body.is_empty()).then_some(message.body.as_str())
}

/// Fetches the file from the homeserver and uploads it to Telegram: the
/// medium of the message that carries it.
pub async fn upload(
    bridge: &Bridge,
    client: &Client,
    file: &MatrixFile,
    max_bytes: u64,
) -> Result<tl::enums::InputMedia> {
    let data = bridge
        .homeserver()
        .download_at_most(&file.mxc, max_bytes)
        .await
        .with_context(|| format!("cannot fetch {} from the homeserver", file.name))?;
    let size = data.len();
    let uploaded = client
        .upload_stream(&mut data.as_slice(), size, file.name.clone())
        .await
        .context("cannot upload the file to Telegram")?;
    Ok(input_media(file, uploaded.raw, size))
}

/// The medium for an uploaded file, by its shape.
fn input_media(
    file: &MatrixFile,
    uploaded: tl::enums::InputFile,
    size: usize,
) -> tl::enums::InputMedia {
    let as_photo = PHOTO_TYPES.contains(&file.mimetype.as_str()) && size <= PHOTO_MAX_BYTES;
    if file.shape == Shape::Photo && as_photo {
        return tl::types::InputMediaUploadedPhoto {
            spoiler: false,
            live_photo: false,
            file: uploaded,
            stickers: None,
            ttl_seconds: None,
            video: None,
        }
        .into();
    }
    let mut attributes = vec![tl::types::DocumentAttributeFilename {
        file_name: file.name.clone(),
    }
    .into()];
    let seconds = |d: Duration| i32::try_from(d.as_secs()).unwrap_or(i32::MAX);
    match file.shape {
        Shape::Voice { duration } => attributes.push(
            tl::types::DocumentAttributeAudio {
                voice: true,
                duration: seconds(duration),
                title: None,
                performer: None,
                waveform: None,
            }
            .into(),
        ),
        Shape::Video { duration, w, h } => attributes.push(
            tl::types::DocumentAttributeVideo {
                round_message: false,
                supports_streaming: true,
                nosound: false,
                duration: duration.as_secs_f64(),
                w,
                h,
                preload_prefix_size: None,
                video_start_ts: None,
                video_codec: None,
            }
            .into(),
        ),
        Shape::Photo | Shape::File => {}
    }
    tl::types::InputMediaUploadedDocument {
        nosound_video: false,
        force_file: matches!(file.shape, Shape::Photo | Shape::File),
        spoiler: false,
        file: uploaded,
        thumb: None,
        mime_type: file.mimetype.clone(),
        attributes,
        stickers: None,
        video_cover: None,
        video_timestamp: None,
        ttl_seconds: None,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mimetype: &str, shape: Shape) -> MatrixFile {
        MatrixFile {
            mxc: "mxc://hs/a".into(),
            name: "a".into(),
            mimetype: mimetype.into(),
            shape,
        }
    }

    fn uploaded() -> tl::enums::InputFile {
        tl::types::InputFile {
            id: 1,
            parts: 1,
            name: "a".into(),
            md5_checksum: String::new(),
        }
        .into()
    }

    #[test]
    fn a_jpeg_goes_as_a_photo_and_a_gif_or_huge_image_as_a_file() {
        let photo = input_media(&file("image/jpeg", Shape::Photo), uploaded(), 1000);
        assert!(matches!(photo, tl::enums::InputMedia::UploadedPhoto(_)));
        for (mime, size) in [("image/gif", 1000), ("image/jpeg", PHOTO_MAX_BYTES + 1)] {
            let media = input_media(&file(mime, Shape::Photo), uploaded(), size);
            let tl::enums::InputMedia::UploadedDocument(document) = media else {
                panic!("{mime} of {size} bytes was not sent as a file");
            };
            assert!(document.force_file);
        }
    }

    #[test]
    fn a_voice_message_carries_the_voice_attribute() {
        let voice = Shape::Voice {
            duration: Duration::from_secs(4),
        };
        let tl::enums::InputMedia::UploadedDocument(document) =
            input_media(&file("audio/ogg", voice), uploaded(), 10)
        else {
            panic!("not a document");
        };
        assert!(document.attributes.iter().any(|a| matches!(
            a,
            tl::enums::DocumentAttribute::Audio(a) if a.voice && a.duration == 4
        )));
    }
}
