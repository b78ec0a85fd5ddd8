//! Matrix messages that do not fit IRC as they are: files, and text longer
//! than the network's line limit. Both become one line with a link that
//! anyone can open, served by the bridge (see `causeway_core::public_media`).

use crate::lines;
use crate::network::IrcNetwork;
use anyhow::{Context, Result};
use causeway_core::matrix_event::MatrixMessage;

impl IrcNetwork {
    /// The ACTION text for a file: `uploaded an image: cat.png (12 KiB) <URL>`.
    pub(crate) fn attachment_text(&self, message: &MatrixMessage) -> Result<String> {
        let verb = match message.msgtype.as_str() {
            "m.image" => "uploaded an image",
            "m.video" => "uploaded a video",
            "m.audio" => "uploaded an audio file",
            _ => "posted a file",
        };
        let (name, size) = message.file_name_and_size();
        let mut text = format!("{verb}: {name}");
        if let Some(size) = size {
            text.push_str(&format!(" ({})", human_size(size)));
        }
        let bridge = self.bridge()?;
        let mxc = message
            .url
            .as_deref()
            .context("encrypted or missing media cannot be bridged to IRC")?;
        match causeway_core::public_media::url(bridge, mxc, name) {
            Some(url) => text.push_str(&format!(" <{url}>")),
            None => text.push_str(" (media links are turned off on this bridge)"),
        }
        Ok(text)
    }

    /// One line for a message over the line limit: its start, then a link to
    /// the whole text, uploaded as `<nick>_<date>.txt`.
    pub(crate) async fn long_message_line(
        &self,
        nick: &str,
        text: &str,
        message: &MatrixMessage,
        limit: usize,
    ) -> Result<String> {
        let bridge = self.bridge()?;
        let when = chrono::DateTime::from_timestamp_millis(message.meta.timestamp)
            .map(|t| t.format("%Y-%m-%d_%H-%M-%S").to_string())
            .unwrap_or_default();
        let filename = format!("{nick}_{when}.txt");
        let mxc = bridge
            .homeserver()
            .upload(
                bridge.bot(),
                text.as_bytes().to_vec(),
                "text/plain; charset=utf-8",
                &filename,
            )
            .await
            .context("the message is too long for IRC and could not be uploaded as a file")?;
        let url = causeway_core::public_media::url(bridge, &mxc, &filename).context(
            "the message is too long for IRC, and media links are turned off on this bridge",
        )?;
        let suffix = format!("… (full message at {url})");
        let room = limit.saturating_sub(suffix.len()).max(16);
        let start = lines::split_lines(text, room)
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok(format!("{start}{suffix}"))
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{} KiB", bytes / 1024),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_the_anchor() {
        assert_eq!(super::human_size(500), "500 B");
        assert_eq!(super::human_size(12 * 1024 + 5), "12 KiB");
        assert_eq!(super::human_size(3 * 1_048_576), "3.0 MiB");
    }
}
