//! The command line every Causeway bridge shares, with the flags admins know
//! from the mautrix bridges.

use crate::config::{store_tokens, Config};
use crate::network::{Network, NetworkInfo};
use crate::registration::{random_token, Registration};
use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(version, about = "A Causeway Matrix bridge")]
pub struct Args {
    /// The config file.
    #[arg(short, long, default_value = "config.yaml")]
    pub config: PathBuf,
    /// The registration file.
    #[arg(short, long, default_value = "registration.yaml")]
    pub registration: PathBuf,
    /// Write the registration with fresh tokens, and store them in the config.
    #[arg(short, long)]
    pub generate_registration: bool,
    /// Write a fully commented example config to the config path.
    #[arg(short = 'e', long)]
    pub generate_example_config: bool,
}

/// The network's part of the CLI: its facts and how to build it from config.
pub type BuildNetwork = fn(&Config) -> Result<Arc<dyn Network>>;

/// The whole `main` of a bridge binary.
pub fn main(info: NetworkInfo, build: BuildNetwork) -> ExitCode {
    let args = Args::parse();
    match run_cli(&args, &info, build) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("causeway-{}: {err:#}", info.id);
            ExitCode::FAILURE
        }
    }
}

fn run_cli(args: &Args, info: &NetworkInfo, build: BuildNetwork) -> Result<()> {
    if args.generate_example_config {
        if args.config.exists() {
            bail!(
                "{} already exists; move it away or pick another path with -c",
                args.config.display()
            );
        }
        std::fs::write(&args.config, example_config(info))
            .with_context(|| format!("cannot write {}", args.config.display()))?;
        println!(
            "Wrote an example config to {}. Edit it, then run with -g to make the registration.",
            args.config.display()
        );
        return Ok(());
    }
    if args.generate_registration {
        let registration = generate_registration(&args.config, &args.registration, info, build)?;
        println!(
            "Wrote {} and stored its tokens in {}. Add the registration's absolute path to app_service_config_files in the homeserver config and restart the homeserver.",
            args.registration.display(),
            args.config.display()
        );
        drop(registration);
        return Ok(());
    }
    let config = Config::load(&args.config)?;
    init_logging(&config);
    let network = build(&config)?;
    let hint = args.registration.display().to_string();
    let runtime = runtime(info)?;
    runtime.block_on(crate::run::run(config, network, &hint))
}

/// The example config with the network's defaults filled in.
pub fn example_config(info: &NetworkInfo) -> String {
    include_str!("example-config.yaml")
        .replace("{NAME}", info.name)
        .replace("{ID}", info.id)
        .replace("{PORT}", &info.default_port.to_string())
        .replace("{BOT}", info.default_bot_username)
        .replace("{DISPLAYNAME_TEMPLATE}", info.default_displayname_template)
        .replace("{USER_TEMPLATE}", info.default_username_template)
        .replace("{ALIAS_TEMPLATE}", info.default_alias_template)
        .replace("{PREFIX}", info.default_command_prefix)
        + info.example_config
}

/// Writes fresh tokens into the config and the registration file.
pub fn generate_registration(
    config_path: &Path,
    registration_path: &Path,
    info: &NetworkInfo,
    build: BuildNetwork,
) -> Result<Registration> {
    if !config_path.exists() {
        bail!(
            "{} does not exist: write one with -e first",
            config_path.display()
        );
    }
    let text = std::fs::read_to_string(config_path)?;
    let text = store_tokens(&text, &random_token(), &random_token())?;
    let config =
        Config::parse(&text).with_context(|| format!("{} is not valid", config_path.display()))?;
    // The network knows what its IDs start with (IRC: its networks' IDs),
    // so the registration claims no more than it uses.
    let prefixes = build(&config)?.id_prefixes();
    let registration = Registration::from_config(&config, vec![info.id.to_owned()], &prefixes);
    std::fs::write(registration_path, registration.to_yaml()?)
        .with_context(|| format!("cannot write {}", registration_path.display()))?;
    if let Some(token) = &config.bridge.double_puppet.as_token {
        let path = double_puppet_registration_path(registration_path);
        let double_puppet = Registration::double_puppet(&config, token);
        std::fs::write(&path, double_puppet.to_yaml()?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "Wrote {} for double puppeting: add it to app_service_config_files too.",
            path.display()
        );
    }
    std::fs::write(config_path, text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    Ok(registration)
}

/// Where `-g` writes the double-puppeting registration: beside the
/// bridge's, as `<name>-doublepuppet.yaml`.
pub fn double_puppet_registration_path(registration: &Path) -> std::path::PathBuf {
    let stem = registration
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "registration".into());
    registration.with_file_name(format!("{stem}-doublepuppet.yaml"))
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.logging.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.logging.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The runtime the network asks for (see [`NetworkInfo::single_threaded`]).
fn runtime(info: &NetworkInfo) -> std::io::Result<tokio::runtime::Runtime> {
    match info.single_threaded {
        true => tokio::runtime::Builder::new_current_thread(),
        false => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn a_single_threaded_network_runs_on_one_thread_and_the_others_on_all_cores() {
        let info = |single_threaded| NetworkInfo {
            name: "Test",
            id: "test",
            version: "0",
            default_username_template: "test_{id}",
            default_alias_template: "test_{id}",
            default_command_prefix: "",
            default_bot_username: "testbot",
            default_displayname_template: "{name}",
            default_port: 0,
            example_config: "",
            icon: &[],
            single_threaded,
        };
        let flavor = |single| runtime(&info(single)).unwrap().handle().runtime_flavor();
        assert_eq!(flavor(true), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(false), RuntimeFlavor::MultiThread);
    }
}
