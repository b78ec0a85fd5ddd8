//! How the database runs each statement of the hot path, checked on a
//! seeded table: a statement that walks more rows than a batch gets slower
//! as the log grows, which no test with a small database would notice.
//!
//! SQLite is checked as the bridge runs it, without statistics (the bridge
//! never runs `ANALYZE`), through `EXPLAIN QUERY PLAN`. PostgreSQL is
//! checked through `EXPLAIN` after `ANALYZE`, as autovacuum would leave it.

use super::ingress::{mark_processed_sql, pending_in_room_sql, PENDING};
use super::ingress_log::{insert_events_sql, INSERT_TXN, NEWEST_LOGGED};
use super::messages::*;
use super::outbox::{outbox_done_sql, outbox_push_sql, OUTBOX_PENDING};
use super::{test_store, Dialect, Store};
use sqlx::Row;

/// Rows seeded in each hot table.
const SEEDED: i64 = 100_000;
/// Unprocessed events among them: the backlog a reader pages through, as
/// a bridge finds it after a long stop. `ingress_pending` holds only these,
/// so a small backlog would let PostgreSQL scan it whole, rightly.
const PENDING_EVENTS: i64 = 50_000;
/// The most rows a statement may walk: the dispatcher's batch.
const BATCH: f64 = 512.0;

#[derive(Clone)]
enum Bind {
    Text(&'static str),
    Int(i64),
    Null,
}

/// A statement of the hot path with typical arguments.
struct Hot {
    name: &'static str,
    sql: String,
    binds: Vec<Bind>,
}

fn hot(name: &'static str, sql: impl Into<String>, binds: Vec<Bind>) -> Hot {
    Hot {
        name,
        sql: sql.into(),
        binds,
    }
}

fn hot_statements() -> Vec<Hot> {
    use Bind::*;
    let seqs = |n: i64| (0..n).map(|i| Int(SEEDED - 1000 + i * 3));
    let mut mark = vec![Text("test")];
    mark.extend(seqs(64));
    let mut events = Vec::new();
    for i in 0..4 {
        let ids = ["$new0", "$new1", "$new2", "$new3"];
        events.extend([
            Text("test"),
            Text(ids[i]),
            Text("!r1"),
            Text("event"),
            Text("{}"),
            Int(1),
        ]);
    }
    let mut messages = Vec::new();
    for id in ["$m_new0", "$m_new1"] {
        messages.extend([
            Text("test"),
            Text("p1"),
            Text(""),
            Text("r"),
            Text(""),
            Text(id),
            Text("!r1"),
            Text("@u:x"),
            Int(1),
        ]);
    }
    // A reaction's key: its portal, message, sender and emoji.
    let reaction = || {
        vec![
            Text("test"),
            Text("p5"),
            Text(""),
            Text("r500"),
            Text("s"),
            Text("👍"),
        ]
    };
    vec![
        hot(
            "record a transaction",
            INSERT_TXN,
            vec![Text("test"), Text("t1"), Text("d"), Int(1)],
        ),
        hot("log events", insert_events_sql(4, true), events),
        hot(
            "read back the events just logged",
            NEWEST_LOGGED,
            vec![Int(SEEDED), Int(50)],
        ),
        hot(
            "read pending events",
            PENDING,
            vec![Text("test"), Int(SEEDED - 1000), Int(512)],
        ),
        hot(
            "read a room's pending events",
            pending_in_room_sql(true),
            vec![
                Text("test"),
                Text("!r7"),
                Int(SEEDED - 1000),
                Int(i64::MAX),
                Int(256),
            ],
        ),
        hot(
            "read pending events of no room",
            pending_in_room_sql(false),
            vec![Text("test"), Null, Int(0), Int(i64::MAX), Int(256)],
        ),
        hot("mark events processed", mark_processed_sql(64), mark),
        hot(
            "find a message by event",
            message_by_event_sql(),
            vec![Text("test"), Text("$m500")],
        ),
        hot(
            "find a message's parts",
            message_parts_sql(1),
            vec![Text("test"), Text("p5"), Text(""), Text("r500")],
        ),
        hot(
            "find the parts of several messages",
            message_parts_sql(3),
            vec![
                Text("test"),
                Text("p5"),
                Text(""),
                Text("r500"),
                Text("r501"),
                Text("r700"),
            ],
        ),
        hot("record messages", insert_messages_sql(2), messages),
        hot(
            "delete a message",
            DELETE_MESSAGE,
            vec![Text("test"), Text("$m500")],
        ),
        hot(
            "find a reaction by event",
            reaction_by_event_sql(),
            vec![Text("test"), Text("$x500")],
        ),
        hot("find a reaction", find_reaction_sql(), reaction()),
        hot(
            "list a message's reactions",
            reactions_on_sql(),
            vec![Text("test"), Text("p5"), Text(""), Text("r500")],
        ),
        hot(
            "record a reaction",
            INSERT_REACTION,
            [reaction(), vec![Text("$x_new"), Int(1)]].concat(),
        ),
        hot(
            "delete a reaction",
            DELETE_REACTION,
            vec![Text("test"), Text("$x500")],
        ),
        hot(
            "read a portal's outbox",
            OUTBOX_PENDING,
            vec![Text("test"), Text("p5"), Text(""), Int(0), Int(256)],
        ),
        hot(
            "queue in the outbox",
            outbox_push_sql(1, true),
            vec![Text("test"), Text("p5"), Text(""), Text("{}"), Int(1)],
        ),
        hot("delete from the outbox", outbox_done_sql(64), {
            let mut delivered: Vec<_> = seqs(64).collect();
            delivered.push(Text("test"));
            delivered
        }),
    ]
}

/// Fills the hot tables: 100k rows each, spread over 100 rooms and portals,
/// with a second bridge's rows beside them.
async fn seed(store: &Store) {
    let series = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SEEDED})"
    );
    let statements = [
        format!(
            "{series} INSERT INTO ingress_event (bridge_id, event_id, room_id, kind, body, received_at) \
             SELECT CASE WHEN i % 10 = 0 THEN 'other' ELSE 'test' END, '$e' || i, '!r' || (i % 100), 'event', '{{}}', i FROM n"
        ),
        format!("DELETE FROM ingress_pending WHERE seq <= {SEEDED} - {PENDING_EVENTS}"),
        format!(
            "{series} INSERT INTO message (bridge_id, portal_id, receiver, remote_id, part_id, event_id, room_id, sender, timestamp) \
             SELECT 'test', 'p' || (i % 100), '', 'r' || i, '', '$m' || i, '!r' || (i % 100), '@u:x', i FROM n"
        ),
        format!(
            "{series} INSERT INTO reaction (bridge_id, portal_id, receiver, remote_message_id, remote_sender, emoji, event_id, timestamp) \
             SELECT 'test', 'p' || (i % 100), '', 'r' || i, 's', '👍', '$x' || i, i FROM n"
        ),
        format!(
            "{series} INSERT INTO remote_outbox (bridge_id, portal_id, receiver, event, queued_at) \
             SELECT 'test', 'p' || (i % 100), '', '{{}}', i FROM n"
        ),
    ];
    for sql in statements {
        sqlx::query(&sql).execute(store.pool()).await.unwrap();
    }
    if store.dialect() == Dialect::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    }
}

async fn explain(store: &Store, statement: &Hot) -> Vec<String> {
    let prefix = match store.dialect() {
        Dialect::Sqlite => "EXPLAIN QUERY PLAN",
        Dialect::Postgres => "EXPLAIN",
    };
    let sql = format!("{prefix} {}", statement.sql);
    let mut query = sqlx::query(&sql);
    for bind in &statement.binds {
        query = match bind {
            Bind::Text(text) => query.bind(*text),
            Bind::Int(n) => query.bind(*n),
            Bind::Null => query.bind(None::<String>),
        };
    }
    let rows = query.fetch_all(store.pool()).await.unwrap_or_else(|err| {
        panic!("cannot explain \"{}\": {err}", statement.name);
    });
    match store.dialect() {
        Dialect::Sqlite => rows
            .iter()
            .map(|row| row.try_get::<String, _>("detail").unwrap())
            .collect(),
        Dialect::Postgres => plan_nodes(
            &rows
                .iter()
                .map(|row| row.try_get::<String, _>(0).unwrap())
                .collect::<Vec<_>>(),
        ),
    }
}

/// PostgreSQL's plan as lines of `node, rows walked`. Rows under a
/// `Limit` count at most the limit's. (The JSON format would be easier to
/// read, but sqlx's `Any` driver cannot decode the `json` type.)
fn plan_nodes(lines: &[String]) -> Vec<String> {
    let mut cap = f64::INFINITY;
    let mut nodes = Vec::new();
    for line in lines {
        let Some((node, cost)) = line.split_once("  (cost=") else {
            continue;
        };
        let node = node.trim_start().trim_start_matches("->").trim();
        let rows: f64 = cost
            .split_once("rows=")
            .and_then(|(_, rest)| rest.split(' ').next())
            .and_then(|rows| rows.parse().ok())
            .unwrap_or(0.0);
        if node.starts_with("Limit") {
            cap = cap.min(rows);
        }
        nodes.push(format!("{node}, {} rows", rows.min(cap)));
    }
    nodes
}

/// Why a plan line walks more than a batch, if it does.
fn walks_too_much(dialect: Dialect, line: &str) -> Option<&'static str> {
    match dialect {
        Dialect::Sqlite => {
            if line.starts_with("SCAN ") && !line.ends_with("VALUES CLAUSE") {
                Some("a full scan")
            } else if line.contains("USE TEMP B-TREE") {
                Some("sorts every matching row")
            } else if line.ends_with("(bridge_id=?)") {
                Some("walks every row of the bridge")
            } else {
                None
            }
        }
        Dialect::Postgres => {
            let rows: f64 = line
                .rsplit(", ")
                .next()?
                .trim_end_matches(" rows")
                .parse()
                .ok()?;
            if line.starts_with("Seq Scan") {
                Some("a full scan")
            } else if line.contains(" Scan") && rows > BATCH {
                Some("walks more rows than a batch")
            } else {
                None
            }
        }
    }
}

#[tokio::test]
async fn no_hot_statement_walks_more_rows_than_a_batch() {
    let (store, _dir) = test_store().await;
    seed(&store).await;
    let mut failures = Vec::new();
    for statement in hot_statements() {
        let plan = explain(&store, &statement).await;
        for line in &plan {
            if let Some(why) = walks_too_much(store.dialect(), line) {
                failures.push(format!(
                    "{}: {why}\n    {}",
                    statement.name,
                    plan.join("\n    ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_plan_that_walks_a_whole_bridge_is_caught() {
    let sqlite = |line| walks_too_much(Dialect::Sqlite, line);
    assert!(
        sqlite("SEARCH ingress_event USING INDEX ingress_event_dedupe (bridge_id=?)").is_some()
    );
    assert!(sqlite("SCAN message").is_some());
    assert!(sqlite("SEARCH ingress_event USING INTEGER PRIMARY KEY (rowid=?)").is_none());
    let postgres = |line| walks_too_much(Dialect::Postgres, line);
    assert!(postgres("Seq Scan on message, 10 rows").is_some());
    let walking = [
        "Limit  (cost=0.42..30 rows=512 width=8)",
        "  ->  Index Scan using ingress_event_dedupe on ingress_event  (cost=0.42..3000 rows=90000 width=8)",
    ];
    let nodes = plan_nodes(&walking.map(String::from));
    assert_eq!(
        nodes[1],
        "Index Scan using ingress_event_dedupe on ingress_event, 512 rows"
    );
    assert!(
        postgres("Index Scan using ingress_event_dedupe on ingress_event, 90000 rows").is_some()
    );
    assert!(postgres("Index Scan using message_by_event on message, 1 rows").is_none());
}
