//! The daemon's two clocks: unix time for records people read and that
//! survive a restart, CLOCK_MONOTONIC for the flow table's times.

/// Seconds since the unix epoch (0 if the clock is before it).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds from `since` (unix time) to `now`, never negative, never a panic
/// whatever a record holds.
pub fn elapsed_since(since: f64, now: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64((now - since).max(0.0)).unwrap_or_default()
}
