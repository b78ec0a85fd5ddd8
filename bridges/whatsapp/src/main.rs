//! `causeway-whatsapp`: the Matrix–WhatsApp bridge.

fn main() -> std::process::ExitCode {
    causeway_core::cli::main(
        causeway_whatsapp::network::INFO,
        causeway_whatsapp::network::build,
    )
}
