//! Prometheus metrics, written by hand in the text exposition format: events appended, head position,
//! request latency, live subscribers and the background verification.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    appended: AtomicU64,
    requests: AtomicU64,
    latency_micros_sum: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    subscribers: Arc<AtomicU64>,
    verify_runs: AtomicU64,
    verify_failures: AtomicU64,
    /// Whether the latest run failed (1) or not (0).
    verify_failing: AtomicU64,
    verify_last_success: AtomicU64,
    verify_last_events: AtomicU64,
    verify_last_micros: AtomicU64,
}

/// Counts one live subscriber while it exists.
#[derive(Debug)]
pub struct SubscriberGuard(Arc<AtomicU64>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts events newly appended through the API.
    pub fn appended(&self, n: u64) {
        self.appended.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one HTTP request's latency.
    pub fn request(&self, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros_sum.fetch_add(micros, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a subscriber until the guard is dropped.
    pub fn subscriber(&self) -> SubscriberGuard {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        SubscriberGuard(self.subscribers.clone())
    }

    /// Records a passed verification of `events` events, finished at `unix_seconds`.
    pub fn verified(&self, events: u64, unix_seconds: u64, seconds: f64) {
        self.verify_runs.fetch_add(1, Ordering::Relaxed);
        self.verify_failing.store(0, Ordering::Relaxed);
        self.verify_last_success.store(unix_seconds, Ordering::Relaxed);
        self.verify_last_events.store(events, Ordering::Relaxed);
        self.verify_last_micros.store((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Records a failed verification.
    pub fn verification_failed(&self, seconds: f64) {
        self.verify_runs.fetch_add(1, Ordering::Relaxed);
        self.verify_failures.fetch_add(1, Ordering::Relaxed);
        self.verify_failing.store(1, Ordering::Relaxed);
        self.verify_last_micros.store((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The number of live subscribers.
    pub fn subscribers(&self) -> u64 {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// The text exposition.
    pub fn render(&self, head_position: u64) -> String {
        let mut out = String::new();
        let requests = self.requests.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP samverkan_events_appended_total Events appended through the API since start.");
        let _ = writeln!(out, "# TYPE samverkan_events_appended_total counter");
        let _ = writeln!(out, "samverkan_events_appended_total {}", self.appended.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP samverkan_head_position The ledger's last position.");
        let _ = writeln!(out, "# TYPE samverkan_head_position gauge");
        let _ = writeln!(out, "samverkan_head_position {head_position}");
        let _ = writeln!(out, "# HELP samverkan_subscribers Live event subscriptions.");
        let _ = writeln!(out, "# TYPE samverkan_subscribers gauge");
        let _ = writeln!(out, "samverkan_subscribers {}", self.subscribers());
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "samverkan_verify_runs_total",
            "Background verifications run since start.",
            "counter",
            load(&self.verify_runs).to_string(),
        );
        gauge(
            &mut out,
            "samverkan_verify_failures_total",
            "Background verifications that failed since start.",
            "counter",
            load(&self.verify_failures).to_string(),
        );
        gauge(
            &mut out,
            "samverkan_verify_failing",
            "1 while the latest background verification failed.",
            "gauge",
            load(&self.verify_failing).to_string(),
        );
        gauge(
            &mut out,
            "samverkan_verify_last_success_timestamp_seconds",
            "When a background verification last passed (Unix time; 0: never).",
            "gauge",
            load(&self.verify_last_success).to_string(),
        );
        gauge(
            &mut out,
            "samverkan_verify_last_success_events",
            "How many events the last passed verification covered.",
            "gauge",
            load(&self.verify_last_events).to_string(),
        );
        gauge(
            &mut out,
            "samverkan_verify_last_duration_seconds",
            "How long the latest background verification took.",
            "gauge",
            (load(&self.verify_last_micros) as f64 / 1e6).to_string(),
        );
        let _ = writeln!(out, "# HELP samverkan_request_duration_seconds HTTP request latency.");
        let _ = writeln!(out, "# TYPE samverkan_request_duration_seconds histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "samverkan_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "samverkan_request_duration_seconds_bucket{{le=\"+Inf\"}} {requests}");
        let sum = self.latency_micros_sum.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "samverkan_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "samverkan_request_duration_seconds_count {requests}");
        out
    }
}
