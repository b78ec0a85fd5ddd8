//! Telegram's flood limits. A call answered with `FLOOD_WAIT_<n>` is slept
//! on and sent again, so a burst of messages is delayed, never dropped
//! (mautrix-telegram #1079 dropped them). A wait beyond the configured
//! limit is given up, and the sender hears why in the room.

use grammers_client::sender::{RetryContext, RetryPolicy};
use grammers_client::InvocationError;
use std::ops::ControlFlow;
use std::time::Duration;

/// How many times one call is tried again.
const MAX_RETRIES: u32 = 5;

/// The retry policy of every login's connection.
pub struct FloodPolicy {
    /// The longest total wait for one call.
    pub max_wait: Duration,
}

impl RetryPolicy for FloodPolicy {
    fn should_retry(&self, ctx: &RetryContext) -> ControlFlow<(), Duration> {
        if ctx.fail_count.get() > MAX_RETRIES {
            return ControlFlow::Break(());
        }
        match &ctx.error {
            InvocationError::Rpc(rpc) if rpc.code == 420 => {
                let wait = Duration::from_secs(u64::from(rpc.value.unwrap_or(1).max(1)));
                if ctx.slept_so_far + wait <= self.max_wait {
                    tracing::info!(?wait, "Telegram asked to slow down; waiting");
                    ControlFlow::Continue(wait)
                } else {
                    ControlFlow::Break(())
                }
            }
            // A dropped connection: reconnect and send again shortly.
            InvocationError::Io(_) => ControlFlow::Continue(Duration::from_secs(1)),
            _ => ControlFlow::Break(()),
        }
    }
}

/// An error for the room: a flood wait says how long Telegram asked for.
pub fn explain(err: InvocationError) -> anyhow::Error {
    match &err {
        InvocationError::Rpc(rpc) if rpc.code == 420 => anyhow::anyhow!(
            "Telegram asks this account to wait {} seconds before sending more (a flood limit); send it again then",
            rpc.value.unwrap_or_default()
        ),
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_client::sender::RpcError;
    use std::num::NonZeroU32;

    fn flood(seconds: u32, fail_count: u32, slept: u64) -> RetryContext {
        RetryContext {
            fail_count: NonZeroU32::new(fail_count).unwrap(),
            slept_so_far: Duration::from_secs(slept),
            error: InvocationError::Rpc(RpcError {
                code: 420,
                name: "FLOOD_WAIT".into(),
                value: Some(seconds),
                caused_by: None,
            }),
        }
    }

    #[test]
    fn a_flood_wait_within_the_limit_is_slept_and_one_beyond_is_given_up() {
        let policy = FloodPolicy {
            max_wait: Duration::from_secs(60),
        };
        assert_eq!(
            policy.should_retry(&flood(30, 1, 0)),
            ControlFlow::Continue(Duration::from_secs(30))
        );
        assert_eq!(
            policy.should_retry(&flood(30, 2, 40)),
            ControlFlow::Break(())
        );
        assert_eq!(
            policy.should_retry(&flood(3600, 1, 0)),
            ControlFlow::Break(())
        );
        assert_eq!(policy.should_retry(&flood(1, 6, 5)), ControlFlow::Break(()));
    }
}
