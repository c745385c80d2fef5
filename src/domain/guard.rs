//! Whether a new import may start while another one is recorded as active.
//!
//! An active import blocks new ones until it has shown no activity for
//! `stale_after`; then it is presumed dead (its worker crashed or was
//! redeployed) and the new request takes over.

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Debug)]
pub struct ActiveImport {
    pub created_at: DateTime<Utc>,
    pub processing_started_at: Option<DateTime<Utc>>,
    pub last_progress_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartDecision {
    Start,
    /// Another import is healthy; it has been processing this long.
    Reject {
        elapsed_minutes: i64,
    },
    /// Another import went quiet this long ago; replace it.
    TakeOver {
        idle_minutes: i64,
    },
}

/// Stale when `now - last_activity >= stale_after` (exactly equal is stale).
/// `now` is the database's clock, read with the active import's times, so an
/// instance's own clock, however skewed, never decides.
pub fn decide(
    active: Option<&ActiveImport>,
    stale_after: Duration,
    now: DateTime<Utc>,
) -> StartDecision {
    let Some(active) = active else {
        return StartDecision::Start;
    };
    let idle = now - last_activity(active);
    if idle >= stale_after {
        StartDecision::TakeOver {
            idle_minutes: idle.num_minutes(),
        }
    } else {
        StartDecision::Reject {
            elapsed_minutes: elapsed_minutes(active, now),
        }
    }
}

/// coalesce(last_progress_at, processing_started_at, created_at)
pub fn last_activity(active: &ActiveImport) -> DateTime<Utc> {
    active
        .last_progress_at
        .or(active.processing_started_at)
        .unwrap_or(active.created_at)
}

/// Whole minutes since processing started; 0 if it has not started, and never
/// negative when clocks disagree.
pub fn elapsed_minutes(active: &ActiveImport, now: DateTime<Utc>) -> i64 {
    active
        .processing_started_at
        .map_or(0, |started| (now - started).num_minutes().max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn ago(seconds: i64) -> DateTime<Utc> {
        now() - Duration::seconds(seconds)
    }

    /// Started and last progressed `seconds` ago.
    fn started(seconds: i64) -> ActiveImport {
        ActiveImport {
            created_at: ago(seconds + 5),
            processing_started_at: Some(ago(seconds)),
            last_progress_at: Some(ago(seconds)),
        }
    }

    fn decide_15(active: &ActiveImport) -> StartDecision {
        decide(Some(active), Duration::minutes(15), now())
    }

    #[test]
    fn nothing_active_starts() {
        assert_eq!(
            decide(None, Duration::minutes(15), now()),
            StartDecision::Start
        );
    }

    #[test]
    fn fresh_imports_reject_with_elapsed_minutes() {
        assert_eq!(
            decide_15(&started(0)),
            StartDecision::Reject { elapsed_minutes: 0 }
        );
        assert_eq!(
            decide_15(&started(60)),
            StartDecision::Reject { elapsed_minutes: 1 }
        );
        assert_eq!(
            decide_15(&started(14 * 60)),
            StartDecision::Reject {
                elapsed_minutes: 14
            }
        );
    }

    #[test]
    fn exactly_stale_after_takes_over() {
        assert_eq!(
            decide_15(&started(15 * 60)),
            StartDecision::TakeOver { idle_minutes: 15 }
        );
    }

    #[test]
    fn one_second_before_the_boundary_rejects() {
        assert_eq!(
            decide_15(&started(15 * 60 - 1)),
            StartDecision::Reject {
                elapsed_minutes: 14
            }
        );
    }

    #[test]
    fn not_yet_started_counts_zero_minutes_and_ages_from_creation() {
        let queued = ActiveImport {
            created_at: ago(120),
            processing_started_at: None,
            last_progress_at: None,
        };
        assert_eq!(elapsed_minutes(&queued, now()), 0);
        assert_eq!(last_activity(&queued), ago(120));
        assert_eq!(
            decide_15(&queued),
            StartDecision::Reject { elapsed_minutes: 0 }
        );
        let abandoned = ActiveImport {
            created_at: ago(3600),
            ..queued
        };
        assert_eq!(
            decide_15(&abandoned),
            StartDecision::TakeOver { idle_minutes: 60 }
        );
    }

    #[test]
    fn clock_skew_never_gives_negative_minutes() {
        let future = ActiveImport {
            created_at: ago(-300),
            processing_started_at: Some(ago(-240)),
            last_progress_at: None,
        };
        assert_eq!(elapsed_minutes(&future, now()), 0);
        assert_eq!(
            decide_15(&future),
            StartDecision::Reject { elapsed_minutes: 0 }
        );
    }

    #[test]
    fn long_healthy_import_is_not_taken_over() {
        let busy = ActiveImport {
            created_at: ago(41 * 60),
            processing_started_at: Some(ago(40 * 60)),
            last_progress_at: Some(ago(60)),
        };
        assert_eq!(last_activity(&busy), ago(60));
        assert_eq!(
            decide_15(&busy),
            StartDecision::Reject {
                elapsed_minutes: 40
            }
        );
    }

    #[test]
    fn started_without_progress_ages_from_start() {
        let silent = ActiveImport {
            created_at: ago(3600),
            processing_started_at: Some(ago(16 * 60)),
            last_progress_at: None,
        };
        assert_eq!(
            decide_15(&silent),
            StartDecision::TakeOver { idle_minutes: 16 }
        );
    }
}
