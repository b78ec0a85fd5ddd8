//! The login state machine shared by all bridges.
//!
//! A network's `LoginProcess` returns steps; the core runs them in the
//! management room: it asks for input field by field, redacts passwords after
//! reading them, shows QR codes as images refreshed in place, and lets
//! `cancel` end the process at any step.

use crate::ids::LoginId;
use anyhow::Result;
use async_trait::async_trait;
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct LoginFlow {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    PhoneNumber,
    Code,
    /// Redacted from the room as soon as it is read.
    Password,
}

#[derive(Clone, Debug)]
pub struct InputField {
    pub id: &'static str,
    pub name: &'static str,
    pub kind: FieldKind,
}

/// A finished login, for the core to store and connect.
#[derive(Clone, Debug)]
pub struct NewLogin {
    pub login_id: LoginId,
    pub remote_name: String,
    pub secret: Option<Vec<u8>>,
    pub metadata: serde_json::Value,
}

#[derive(Clone, Debug)]
pub enum LoginStep {
    /// Ask the user for these fields, one message each.
    UserInput {
        instructions: String,
        fields: Vec<InputField>,
    },
    /// Show a QR code and wait for the remote side; `wait` returns the next
    /// step, which may be a refreshed code.
    DisplayQr {
        instructions: String,
        data: String,
    },
    /// Show a code to type on the remote side (a pairing code) and wait,
    /// like `DisplayQr`.
    DisplayCode {
        instructions: String,
        code: String,
    },
    Complete {
        login: NewLogin,
        message: String,
    },
}

#[async_trait]
pub trait LoginProcess: Send {
    async fn start(&mut self) -> Result<LoginStep>;
    /// Called with every field of a `UserInput` step.
    async fn submit(&mut self, input: HashMap<String, String>) -> Result<LoginStep>;
    /// Called while a `DisplayQr` or `DisplayCode` step is shown.
    async fn wait(&mut self) -> Result<LoginStep>;
    async fn cancel(&mut self);
}

/// Renders a QR code as a PNG, 8 pixels a module with a 4-module margin.
pub fn qr_png(data: &str) -> Result<Vec<u8>> {
    let code = qrcode::QrCode::new(data.as_bytes())?;
    let modules = code.width();
    let colors = code.to_colors();
    let (scale, margin) = (8usize, 4usize);
    let side = (modules + 2 * margin) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + margin, i / modules + margin);
            for y in my * scale..(my + 1) * scale {
                pixels[y * side + mx * scale..y * side + (mx + 1) * scale].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_png_is_a_png_of_the_expected_size() {
        let png_bytes = qr_png("2@abcdef,ghijkl").unwrap();
        assert_eq!(&png_bytes[1..4], b"PNG");
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width % 8, 0);
    }
}
