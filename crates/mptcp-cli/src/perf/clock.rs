//! Timers for the `select!` loops: optional deadlines and interval ticks.

use std::future::pending;
use std::time::{Duration, Instant};

use tokio::time::{Interval, MissedTickBehavior};

/// A ticker firing every `period` from `start` on; `None` for a zero
/// period (no interval reports).
pub fn ticker(start: Instant, period: Duration) -> Option<Interval> {
    if period.is_zero() {
        return None;
    }
    let mut ticker = tokio::time::interval_at((start + period).into(), period);
    // After a stall, report one long interval rather than a burst of
    // empty ones.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Some(ticker)
}

/// The next tick; never, without a ticker.
pub async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => pending().await,
    }
}

/// Sleep until `deadline`; forever, without one.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => pending().await,
    }
}
