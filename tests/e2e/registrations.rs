//! Several bridges on one homeserver: each registration claims only the
//! IDs its bridge makes. Every bridge's registration is generated as `-g`
//! does, from its example config and from the demo's, and no exclusive
//! user or alias namespace of one may match an ID another makes.

use anyhow::Result;
use causeway_core::cli::{generate_registration, BuildNetwork};
use causeway_core::network::NetworkInfo;
use regex::Regex;

struct Bridge {
    info: NetworkInfo,
    build: BuildNetwork,
    /// IDs this bridge makes: its bot, ghosts and aliases.
    ids: &'static [&'static str],
}

fn bridges() -> Vec<Bridge> {
    vec![
        Bridge {
            info: causeway_irc::network::INFO,
            build: causeway_irc::network::build,
            ids: &[
                "@ircbot:localhost",
                "@_local_alice:localhost",
                "@_local_xmpp_bob:localhost",
                "#_local_#causeway:localhost",
            ],
        },
        Bridge {
            info: causeway_xmpp::network::INFO,
            build: causeway_xmpp::network::build,
            ids: &[
                "@xmppbot:localhost",
                "@xmpp_alice=40xmpp.localhost:localhost",
                "@xmpp__local_x:localhost",
                "#_xmpp_lobby_conference.xmpp.localhost:localhost",
                "#_xmpp_local_room:localhost",
            ],
        },
        Bridge {
            info: causeway_telegram::network::INFO,
            build: causeway_telegram::network::build,
            ids: &[
                "@telegram:localhost",
                "@telegram_1001:localhost",
                "@telegram_-1000000007000:localhost",
                "#telegram_1001:localhost",
            ],
        },
    ]
}

/// The exclusive user and alias regexes of a bridge's registration, made
/// from its example config, with `edit` applied to the config first.
fn exclusive_namespaces(bridge: &Bridge, edit: fn(&str, &str) -> String) -> Result<Vec<Regex>> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.yaml");
    let registration = dir.path().join("registration.yaml");
    let example = causeway_core::cli::example_config(&bridge.info);
    std::fs::write(&config, edit(bridge.info.id, &example))?;
    let made = generate_registration(&config, &registration, &bridge.info, bridge.build)?;
    let namespaces = made.namespaces;
    namespaces
        .users
        .iter()
        .chain(&namespaces.aliases)
        .filter(|n| n.exclusive)
        .map(|n| Ok(Regex::new(&n.regex)?))
        .collect()
}

fn assert_no_overlap(edit: fn(&str, &str) -> String) -> Result<()> {
    let bridges = bridges();
    for (i, bridge) in bridges.iter().enumerate() {
        let claimed = exclusive_namespaces(bridge, edit)?;
        for id in bridge.ids {
            assert!(
                claimed.iter().any(|re| re.is_match(id)),
                "{} does not claim its own {id}",
                bridge.info.id
            );
        }
        for (j, other) in bridges.iter().enumerate() {
            if i == j {
                continue;
            }
            for id in other.ids {
                if let Some(re) = claimed.iter().find(|re| re.is_match(id)) {
                    panic!(
                        "{}'s namespace {re} claims {id}, which {} makes",
                        bridge.info.id, other.info.id
                    );
                }
            }
        }
    }
    Ok(())
}

#[test]
fn registrations_from_the_example_configs_claim_only_their_own_ids() -> Result<()> {
    assert_no_overlap(|_, config| config.to_owned())
}

#[test]
fn registrations_from_the_demo_configs_claim_only_their_own_ids() -> Result<()> {
    // What scripts/demo.sh changes before `-g`.
    assert_no_overlap(|id, config| {
        let config = config
            .replace(
                &format!("sqlite:causeway-{id}.db"),
                &format!("sqlite:/tmp/demo-{id}.db"),
            )
            .replace("xmpp.example.com", "xmpp.localhost");
        match id {
            "telegram" => config.replace(
                "  test_server: null",
                "  test_server: { host: 127.0.0.1, dc_ports: { 2: 24443, 4: 24444 }, key_service: 'http://127.0.0.1:24440/keys' }",
            ),
            _ => config,
        }
    })
}
