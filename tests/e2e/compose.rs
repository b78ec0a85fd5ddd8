//! No Docker engine runs here, so docker-compose.yml is checked by schema:
//! the services it must have, builds that exist, and shared registrations.

use serde_yaml::Value;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn compose() -> Value {
    let text =
        std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    serde_yaml::from_str(&text).expect("docker-compose.yml is YAML")
}

fn bridges() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(root().join("bridges")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(Result::ok)
        // A bridge is a crate with a binary to run; one still being built
        // as a library (bridges/telegram, so far) has nothing to serve.
        .filter(|e| e.path().join("src/main.rs").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Whether a service mounts the shared registrations directory.
fn shares_registrations(service: &Value) -> bool {
    let mounts = service["volumes"]
        .as_sequence()
        .map(|v| v.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    mounts
        .iter()
        .any(|m| m.starts_with("./registrations:/registrations"))
}

#[test]
fn compose_has_synapse_and_postgres_with_a_health_check() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    for name in ["synapse", "postgres"] {
        assert!(services.contains_key(name), "missing service {name}");
    }
    assert!(compose["services"]["postgres"]["healthcheck"]["test"].is_sequence());
    assert_eq!(
        compose["services"]["synapse"]["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    assert!(
        shares_registrations(&compose["services"]["synapse"]),
        "synapse does not mount ./registrations"
    );
}

#[test]
fn every_bridge_has_a_service_built_from_the_workspace_sharing_the_registrations() {
    let compose = compose();
    for bridge in bridges() {
        let service = &compose["services"][bridge.as_str()];
        assert!(
            service.is_mapping(),
            "bridges/{bridge} has no service in docker-compose.yml"
        );
        let dockerfile = service["build"]["dockerfile"]
            .as_str()
            .unwrap_or("Dockerfile");
        let context = service["build"]["context"].as_str().unwrap_or(".");
        assert!(
            root().join(context).join(dockerfile).exists(),
            "{bridge}: {context}/{dockerfile} missing"
        );
        let command = service["command"]
            .as_sequence()
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        assert!(
            command.starts_with(&format!("causeway-{bridge} ")),
            "{bridge}: command {command:?}"
        );
        assert!(
            shares_registrations(service),
            "{bridge} does not mount ./registrations"
        );
    }
}

#[test]
fn every_service_image_is_pinned_or_built() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().expect("services") {
        let pinned = service["image"]
            .as_str()
            .is_some_and(|i| i.contains(':') && !i.ends_with(":latest"));
        assert!(
            pinned || service["build"].is_mapping(),
            "{name:?} is neither pinned nor built"
        );
    }
}

#[test]
fn the_dockerfile_builds_the_workspace_with_the_lockfile() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(root().join("Cargo.lock").exists());
}
