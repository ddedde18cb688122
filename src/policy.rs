//! Restart policy: what to do when the child exits. Pure: no clocks, no processes.
//!
//! The supervisor reports each exit with how long the child was up and the time
//! since the supervisor started; the policy answers "restart after this delay" or
//! "stay down". The same backoff schedule also renders the Windows SCM recovery
//! actions, so the service and the supervisor back off the same way.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// Tailscale's quadratic schedule, in seconds: 1, 2, 4, 9, 16, 25, 36, 49, 64.
pub const DEFAULT_BACKOFF_SECS: [u64; 9] = [1, 2, 4, 9, 16, 25, 36, 49, 64];
/// Uptime after which the schedule starts over at the first step.
pub const DEFAULT_RESET_AFTER: Duration = Duration::from_secs(60);
/// A child that lived less than this is a crash loop suspect...
pub const QUICK_EXIT: Duration = Duration::from_secs(1);
/// ...and is never started again sooner than this, whatever the spec's backoff (or a
/// planned-restart exit code) says. Without it `backoff = ["0s"]` spins at hundreds of
/// starts a second. 100 ms caps a crash loop at 10 starts/s: for a shell about 0.5 % of
/// a core (the issue measured 27 % at 600 starts/s), and a heavier program's own start
/// time adds to the interval. Longer would slow every test and every fast planned
/// restart for no gain a person could notice.
pub const MIN_QUICK_RESTART_DELAY: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    /// Restart after every exit, clean or not.
    Always,
    /// Restart only after an exit that is not a success.
    OnFailure,
    /// Never restart.
    Never,
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    Code(i32),
    /// Killed by a signal (Unix only).
    Signal(i32),
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(c) => write!(f, "exit code {c}"),
            ExitKind::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// The restart rules of one service, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    /// Delay before restart number N (0-based); the last step repeats. Never empty.
    pub backoff: Vec<Duration>,
    pub reset_after: Duration,
    /// Give up after this many counted restarts within `restart_window`.
    pub max_restarts: Option<u32>,
    pub restart_window: Duration,
    pub success_exit_codes: Vec<i32>,
    /// Stay down and report failure (e.g. 78, a configuration error).
    pub prevent_restart_exit_codes: Vec<i32>,
    /// Restart at once without counting a failure (e.g. 75, a planned restart).
    pub force_restart_exit_codes: Vec<i32>,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            mode: RestartMode::Always,
            backoff: DEFAULT_BACKOFF_SECS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            reset_after: DEFAULT_RESET_AFTER,
            max_restarts: None,
            restart_window: Duration::from_secs(600),
            success_exit_codes: vec![0],
            prevent_restart_exit_codes: Vec::new(),
            force_restart_exit_codes: Vec::new(),
        }
    }
}

impl RestartPolicy {
    /// The delay for 0-based restart `step`; past the end of the schedule the last delay repeats.
    pub fn delay_for_step(&self, step: usize) -> Duration {
        self.backoff[step.min(self.backoff.len() - 1)]
    }

    pub fn is_success(&self, exit: ExitKind) -> bool {
        matches!(exit, ExitKind::Code(c) if self.success_exit_codes.contains(&c))
    }
}

/// What the supervisor does after an exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start the child again after `delay`. `planned` restarts (a force-restart exit
    /// code) neither advance the backoff, nor start it over, nor count toward
    /// `max_restarts`.
    Restart { delay: Duration, planned: bool },
    /// Stay down. `failed` tells status to say "failed" rather than "stopped".
    StayDown { failed: bool, reason: String },
}

/// The policy plus its memory: where in the schedule we are and recent restarts.
#[derive(Clone, Debug)]
pub struct RestartTracker {
    policy: RestartPolicy,
    next_step: usize,
    /// Times (since supervisor start) of recent counted restarts, for `max_restarts`.
    recent: VecDeque<Duration>,
}

impl RestartTracker {
    pub fn new(policy: RestartPolicy) -> Self {
        RestartTracker {
            policy,
            next_step: 0,
            recent: VecDeque::new(),
        }
    }

    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// Decide after the child ended with `exit` having been up for `uptime`;
    /// `now` is the time since the supervisor started (a monotonic clock).
    pub fn on_exit(&mut self, exit: ExitKind, uptime: Duration, now: Duration) -> Decision {
        let p = &self.policy;
        if let ExitKind::Code(code) = exit {
            if p.prevent_restart_exit_codes.contains(&code) {
                return Decision::StayDown {
                    failed: true,
                    reason: format!("exit code {code} is listed in prevent_restart_exit_codes"),
                };
            }
            if p.force_restart_exit_codes.contains(&code) {
                // The failure schedule stays where it was: a program that fails, then
                // asks for a planned restart, then fails again is still failing.
                return Decision::Restart {
                    delay: floor_quick(Duration::ZERO, uptime),
                    planned: true,
                };
            }
        }
        let success = p.is_success(exit);
        let restart = match p.mode {
            RestartMode::Always => true,
            RestartMode::OnFailure => !success,
            RestartMode::Never => false,
        };
        if !restart {
            return Decision::StayDown {
                failed: !success,
                reason: format!("the child ended with {exit} and restart mode does not restart it"),
            };
        }
        if uptime >= p.reset_after {
            self.next_step = 0;
        }
        if let Some(max) = p.max_restarts {
            let window = p.restart_window;
            while self
                .recent
                .front()
                .is_some_and(|t| now.saturating_sub(*t) > window)
            {
                self.recent.pop_front();
            }
            if self.recent.len() >= max as usize {
                return Decision::StayDown {
                    failed: true,
                    reason: format!(
                        "gave up after {max} restarts within {}",
                        humantime::format_duration(window)
                    ),
                };
            }
            self.recent.push_back(now);
        }
        let delay = floor_quick(p.delay_for_step(self.next_step), uptime);
        self.next_step += 1;
        Decision::Restart {
            delay,
            planned: false,
        }
    }
}

impl RestartTracker {
    /// The supervisor stopped a child that hung or failed its health checks: a
    /// failure whatever its exit code, so exit-code rules do not apply. Decided as
    /// a kill by a signal is (never a success, never in an exit-code list).
    pub fn on_unhealthy(&mut self, uptime: Duration, now: Duration) -> Decision {
        if self.policy.mode == RestartMode::Never {
            return Decision::StayDown {
                failed: true,
                reason: "it was stopped as unhealthy and restart mode is never".into(),
            };
        }
        self.on_exit(ExitKind::Signal(9), uptime, now)
    }
}

/// The delay before the next start, raised to [`MIN_QUICK_RESTART_DELAY`] when the
/// child lived less than [`QUICK_EXIT`].
fn floor_quick(delay: Duration, uptime: Duration) -> Duration {
    if uptime < QUICK_EXIT {
        delay.max(MIN_QUICK_RESTART_DELAY)
    } else {
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn delays(tracker: &mut RestartTracker, n: usize) -> Vec<u64> {
        (0..n)
            .map(
                |_| match tracker.on_exit(ExitKind::Signal(9), secs(0), secs(0)) {
                    Decision::Restart { delay, .. } => delay.as_secs(),
                    other => panic!("{other:?}"),
                },
            )
            .collect()
    }

    #[test]
    fn default_schedule_is_quadratic_and_repeats_its_last_step() {
        let mut t = RestartTracker::new(RestartPolicy::default());
        assert_eq!(
            delays(&mut t, 11),
            vec![1, 2, 4, 9, 16, 25, 36, 49, 64, 64, 64]
        );
    }

    #[test]
    fn long_uptime_resets_the_schedule() {
        let mut t = RestartTracker::new(RestartPolicy::default());
        delays(&mut t, 4);
        let d = t.on_exit(ExitKind::Code(1), secs(60), secs(100));
        assert_eq!(
            d,
            Decision::Restart {
                delay: secs(1),
                planned: false
            }
        );
        let d = t.on_exit(ExitKind::Code(1), secs(59), secs(200));
        assert_eq!(
            d,
            Decision::Restart {
                delay: secs(2),
                planned: false
            }
        );
    }

    #[test]
    fn prevent_restart_code_stays_down_as_failed() {
        let policy = RestartPolicy {
            prevent_restart_exit_codes: vec![78],
            ..RestartPolicy::default()
        };
        let mut t = RestartTracker::new(policy);
        assert!(matches!(
            t.on_exit(ExitKind::Code(78), secs(1), secs(1)),
            Decision::StayDown { failed: true, .. }
        ));
    }

    #[test]
    fn force_restart_code_restarts_at_once_without_advancing() {
        let policy = RestartPolicy {
            force_restart_exit_codes: vec![75],
            ..RestartPolicy::default()
        };
        let mut t = RestartTracker::new(policy);
        delays(&mut t, 3);
        let d = t.on_exit(ExitKind::Code(75), secs(1), secs(1));
        assert_eq!(
            d,
            Decision::Restart {
                delay: Duration::ZERO,
                planned: true
            }
        );
        // The planned restart leaves the failure schedule where it was: step 4 (9 s).
        assert_eq!(delays(&mut t, 1), vec![9]);
    }

    #[test]
    fn planned_restarts_never_start_the_schedule_over() {
        let policy = RestartPolicy {
            force_restart_exit_codes: vec![75],
            ..RestartPolicy::default()
        };
        let mut t = RestartTracker::new(policy);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.extend(delays(&mut t, 1));
            assert!(matches!(
                t.on_exit(ExitKind::Code(75), secs(2), secs(0)),
                Decision::Restart { planned: true, .. }
            ));
        }
        assert_eq!(seen, vec![1, 2, 4, 9]);
    }

    #[test]
    fn a_quick_exit_never_restarts_sooner_than_the_floor() {
        let policy = RestartPolicy {
            backoff: vec![Duration::ZERO],
            force_restart_exit_codes: vec![75],
            ..RestartPolicy::default()
        };
        let mut t = RestartTracker::new(policy);
        let ms = Duration::from_millis;
        // (exit, uptime) → delay: the clock is injected as the child's uptime.
        for (exit, uptime, want) in [
            (ExitKind::Code(1), ms(0), MIN_QUICK_RESTART_DELAY),
            (ExitKind::Signal(9), ms(999), MIN_QUICK_RESTART_DELAY),
            (ExitKind::Code(75), ms(3), MIN_QUICK_RESTART_DELAY),
            (ExitKind::Code(1), QUICK_EXIT, Duration::ZERO),
            (ExitKind::Code(75), secs(5), Duration::ZERO),
        ] {
            match t.on_exit(exit, uptime, secs(0)) {
                Decision::Restart { delay, .. } => {
                    assert_eq!(delay, want, "{exit} after {uptime:?}")
                }
                other => panic!("{other:?}"),
            }
        }
        // A 1000-exit crash loop with zero backoff needs at least 100 s: 10 starts/s.
        let total: Duration = (0..1000)
            .map(|_| match t.on_exit(ExitKind::Code(1), ms(1), secs(0)) {
                Decision::Restart { delay, .. } => delay + ms(1),
                other => panic!("{other:?}"),
            })
            .sum();
        assert!(total >= secs(100), "{total:?}");
    }

    #[test]
    fn on_failure_mode_stays_down_after_success_but_restarts_after_failure() {
        let policy = RestartPolicy {
            mode: RestartMode::OnFailure,
            success_exit_codes: vec![0, 3],
            ..RestartPolicy::default()
        };
        let mut t = RestartTracker::new(policy);
        assert!(matches!(
            t.on_exit(ExitKind::Code(3), secs(1), secs(1)),
            Decision::StayDown { failed: false, .. }
        ));
        assert!(matches!(
            t.on_exit(ExitKind::Code(1), secs(1), secs(1)),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            t.on_exit(ExitKind::Signal(9), secs(1), secs(1)),
            Decision::Restart { .. }
        ));
    }

    #[test]
    fn never_mode_never_restarts() {
        let policy = RestartPolicy {
            mode: RestartMode::Never,
            ..RestartPolicy::default()
        };
        let mut t = RestartTracker::new(policy);
        assert_eq!(
            t.on_exit(ExitKind::Code(0), secs(1), secs(1)),
            Decision::StayDown {
                failed: false,
                reason: "the child ended with exit code 0 and restart mode does not restart it"
                    .into()
            }
        );
        assert!(matches!(
            t.on_exit(ExitKind::Code(2), secs(1), secs(1)),
            Decision::StayDown { failed: true, .. }
        ));
    }

    #[test]
    fn max_restarts_gives_up_within_the_window_only() {
        let policy = RestartPolicy {
            max_restarts: Some(2),
            restart_window: secs(10),
            ..RestartPolicy::default()
        };
        let mut t = RestartTracker::new(policy.clone());
        assert!(matches!(
            t.on_exit(ExitKind::Code(1), secs(0), secs(1)),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            t.on_exit(ExitKind::Code(1), secs(0), secs(2)),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            t.on_exit(ExitKind::Code(1), secs(0), secs(3)),
            Decision::StayDown { failed: true, .. }
        ));
        // Spread out beyond the window, the same number of restarts is fine.
        let mut t = RestartTracker::new(policy);
        for now in [1, 20, 40, 60] {
            assert!(matches!(
                t.on_exit(ExitKind::Code(1), secs(0), secs(now)),
                Decision::Restart { .. }
            ));
        }
    }

    proptest! {
        #[test]
        fn schedule_follows_the_steps_then_repeats_the_last(
            steps in proptest::collection::vec(1u64..10_000, 1..12),
            n in 0usize..40,
        ) {
            let policy = RestartPolicy {
                backoff: steps.iter().map(|ms| Duration::from_millis(*ms)).collect(),
                ..RestartPolicy::default()
            };
            let mut t = RestartTracker::new(policy);
            for i in 0..n {
                let d = t.on_exit(ExitKind::Code(1), Duration::ZERO, Duration::ZERO);
                let want = Duration::from_millis(steps[i.min(steps.len() - 1)])
                    .max(MIN_QUICK_RESTART_DELAY);
                prop_assert_eq!(d, Decision::Restart { delay: want, planned: false });
            }
        }

        #[test]
        fn any_uptime_past_reset_starts_over(
            before in 0usize..20,
            uptime_ms in 60_000u64..10_000_000,
        ) {
            let mut t = RestartTracker::new(RestartPolicy::default());
            for _ in 0..before {
                t.on_exit(ExitKind::Code(1), Duration::ZERO, Duration::ZERO);
            }
            let d = t.on_exit(ExitKind::Code(1), Duration::from_millis(uptime_ms), Duration::ZERO);
            prop_assert_eq!(d, Decision::Restart { delay: Duration::from_secs(1), planned: false });
        }
    }
}
