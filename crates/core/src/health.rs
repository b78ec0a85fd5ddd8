//! Supervision of the bridge's long-running tasks, and what `/health`
//! reports of them.
//!
//! Each task (the database writer, the dispatcher, the room and portal
//! lanes, a network's event loop) runs its units of work through
//! [`guard`]. A panic in one unit is caught there: it is logged with the
//! component's name, counted in `causeway_task_panics_total`, and the task
//! goes on with its next unit, so the task itself is never lost. The
//! component counts as down from the panic until a unit succeeds again;
//! `/health` answers 503 meanwhile.

use crate::appservice::Status;
use dashmap::DashMap;
use futures_util::FutureExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::LazyLock;

#[derive(Clone, Debug, Default)]
struct Component {
    panics: u64,
    down: bool,
    last_panic: Option<String>,
}

static COMPONENTS: LazyLock<DashMap<&'static str, Component>> = LazyLock::new(DashMap::new);

/// Runs one unit of a task's work; `None` if it panicked.
pub async fn guard<F: Future>(component: &'static str, work: F) -> Option<F::Output> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(output) => {
            if let Some(mut state) = COMPONENTS.get_mut(component) {
                state.down = false;
            }
            Some(output)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            tracing::error!(
                component,
                "a task panicked and goes on with its next work: {message}"
            );
            metrics::counter!("causeway_task_panics_total", "component" => component).increment(1);
            let mut state = COMPONENTS.entry(component).or_default();
            state.panics += 1;
            state.down = true;
            state.last_panic = Some(message);
            None
        }
    }
}

/// One supervised component's state, as `/health` shows it.
#[derive(serde::Serialize)]
pub struct ComponentReport {
    status: Status,
    panics: u64,
    last_panic: Option<String>,
}

/// Whether every supervised component is up, and each one's state.
pub fn report() -> (bool, BTreeMap<String, ComponentReport>) {
    let mut all_up = true;
    let mut components = BTreeMap::new();
    for entry in COMPONENTS.iter() {
        all_up &= !entry.down;
        components.insert(
            (*entry.key()).to_owned(),
            ComponentReport {
                status: Status::from_up(!entry.down),
                panics: entry.panics,
                last_panic: entry.last_panic.clone(),
            },
        );
    }
    (all_up, components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_caught_counted_and_cleared_by_the_next_success() {
        let component = "health test";
        assert_eq!(guard(component, async { 1 }).await, Some(1));
        let panicked = guard(component, async { panic!("forced") }).await;
        assert_eq!(panicked, None::<()>);
        let (_, after_panic) = report();
        assert_eq!(after_panic[component].status, Status::Down);
        assert_eq!(after_panic[component].last_panic.as_deref(), Some("forced"));
        guard(component, async {}).await;
        let (_, recovered) = report();
        assert_eq!(recovered[component].status, Status::Ok);
        assert_eq!(recovered[component].panics, 1);
    }
}
