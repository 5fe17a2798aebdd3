//! The server's metrics, in a Prometheus registry (the `prometheus` crate) rendered as the text
//! exposition at `/metrics`: HTTP requests by route, method and status with their latency; GraphQL
//! operations by name with their latency and errors by code; events appended; the ledger's commit
//! groups (events per group, sync latency); live subscribers; the background verification; and the
//! standard `process_*` metrics of this process.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Upper bounds of the latency histograms, in seconds.
const LATENCY: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0];
/// Upper bounds of the sync-latency histogram, in seconds (an `fdatasync` is 0.1–20 ms on a disk).
const SYNC: [f64; 10] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0];
/// Upper bounds of the events-per-commit-group histogram.
const GROUP: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];
/// The most distinct GraphQL operation names given labels of their own; later ones count as
/// `other`, so that clients cannot grow the metrics without bound.
const MAX_OPERATION_NAMES: usize = 200;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    appended: IntCounter,
    head: IntGauge,
    requests: Histogram,
    http: IntCounterVec,
    http_latency: HistogramVec,
    operations: IntCounterVec,
    operation_latency: HistogramVec,
    errors: IntCounterVec,
    operation_names: Mutex<HashSet<String>>,
    group_events: Histogram,
    sync_latency: Histogram,
    subscribers: IntGauge,
    verify_runs: IntCounter,
    verify_failures: IntCounter,
    verify_failing: IntGauge,
    verify_last_success: IntGauge,
    verify_last_events: IntGauge,
    verify_last_duration: Gauge,
    verify_progress: IntGauge,
    verify_target: IntGauge,
    answers_reused: IntCounter,
    answers_kept: IntGauge,
}

/// Counts one live subscriber while it exists.
#[derive(Debug)]
pub struct SubscriberGuard(IntGauge);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers a metric with the registry and returns it.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> prometheus::Result<M> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        // Invariant: every name, label and bucket list below is a fixed, valid and distinct
        // constant, so building cannot fail (the unit test below builds it).
        Self::build().expect("the metrics' names, labels and buckets are fixed and valid")
    }

    fn build() -> prometheus::Result<Self> {
        let r = Registry::new();
        let counter = |name: &str, help: &str| registered(&r, IntCounter::with_opts(Opts::new(name, help))?);
        let gauge = |name: &str, help: &str| registered(&r, IntGauge::with_opts(Opts::new(name, help))?);
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            registered(&r, Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?)
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            registered(&r, IntCounterVec::new(Opts::new(name, help), labels)?)
        };
        let histogram_vec = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            registered(&r, HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)?)
        };
        #[cfg(target_os = "linux")]
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self {
            appended: counter("samverkan_events_appended_total", "Events appended through the API since start.")?,
            head: gauge("samverkan_head_position", "The ledger's last position.")?,
            answers_reused: counter(
                "samverkan_graphql_answers_reused_total",
                "GraphQL answers over HTTP given again from the bytes kept for the same question at the same head.",
            )?,
            answers_kept: gauge(
                "samverkan_graphql_answers_kept_bytes",
                "Bytes of GraphQL answers kept for questions asked again.",
            )?,
            requests: histogram("samverkan_request_duration_seconds", "HTTP request latency, all routes.", &LATENCY)?,
            http: counter_vec(
                "samverkan_http_requests_total",
                "HTTP requests by route, method and status.",
                &["route", "method", "status"],
            )?,
            http_latency: histogram_vec(
                "samverkan_http_request_duration_seconds",
                "HTTP request latency by route.",
                &["route"],
                &LATENCY,
            )?,
            operations: counter_vec(
                "samverkan_graphql_operations_total",
                "GraphQL operations over HTTP by operation name and outcome (ok, error: any error in the answer).",
                &["operation", "outcome"],
            )?,
            operation_latency: histogram_vec(
                "samverkan_graphql_operation_duration_seconds",
                "GraphQL operation latency over HTTP by operation name.",
                &["operation"],
                &LATENCY,
            )?,
            errors: counter_vec("samverkan_graphql_errors_total", "GraphQL errors by extensions.code.", &["code"])?,
            operation_names: Mutex::new(HashSet::new()),
            group_events: histogram(
                "samverkan_commit_group_events",
                "Events made durable by one sync of the commit journal.",
                &GROUP,
            )?,
            sync_latency: histogram(
                "samverkan_commit_sync_seconds",
                "Time to make commit groups durable (the commit journal's write and fdatasync, or a checkpoint).",
                &SYNC,
            )?,
            subscribers: gauge("samverkan_subscribers", "Live event subscriptions.")?,
            verify_runs: counter("samverkan_verify_runs_total", "Background verifications run since start.")?,
            verify_failures: counter(
                "samverkan_verify_failures_total",
                "Background verifications that failed since start.",
            )?,
            verify_failing: gauge("samverkan_verify_failing", "1 while the latest background verification failed.")?,
            verify_last_success: gauge(
                "samverkan_verify_last_success_timestamp_seconds",
                "When a background verification last passed (Unix time; 0: never).",
            )?,
            verify_progress: gauge(
                "samverkan_verify_progress_events",
                "Events the running (or last) verification has checked so far.",
            )?,
            verify_target: gauge(
                "samverkan_verify_target_events",
                "Events the running (or last) verification checks: the head when it began.",
            )?,
            verify_last_events: gauge(
                "samverkan_verify_last_success_events",
                "How many events the last passed verification covered.",
            )?,
            verify_last_duration: registered(
                &r,
                Gauge::with_opts(Opts::new(
                    "samverkan_verify_last_duration_seconds",
                    "How long the latest background verification took.",
                ))?,
            )?,
            registry: r,
        })
    }

    /// Counts events newly appended through the API.
    pub fn appended(&self, n: u64) {
        self.appended.inc_by(n);
    }

    /// Records one HTTP request: its route (the router's pattern, never the raw path), method,
    /// status and latency.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.requests.observe(seconds);
        self.http.with_label_values(&[route, method, &status.to_string()]).inc();
        self.http_latency.with_label_values(&[route]).observe(seconds);
    }

    /// Records one GraphQL operation over HTTP: its name as the client gave it (bounded: see
    /// `MAX_OPERATION_NAMES`), its latency and the codes of its errors.
    pub fn operation(&self, name: Option<&str>, elapsed: Duration, error_codes: &[&str]) {
        let name = self.operation_label(name);
        let outcome = if error_codes.is_empty() { "ok" } else { "error" };
        self.operations.with_label_values(&[&name, outcome]).inc();
        self.operation_latency.with_label_values(&[&name]).observe(elapsed.as_secs_f64());
        for code in error_codes {
            self.errors.with_label_values(&[code]).inc();
        }
    }

    /// The label of an operation name: `anonymous` for none, `other` for one that is not a GraphQL
    /// name or comes after `MAX_OPERATION_NAMES` others.
    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| !n.is_empty()) else { return "anonymous".to_owned() };
        let valid = name.len() <= 64
            && name.chars().next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
        if !valid {
            return "other".to_owned();
        }
        let mut known = self.operation_names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.contains(name) || (known.len() < MAX_OPERATION_NAMES && known.insert(name.to_owned())) {
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// Records one sync of the ledger's commits.
    pub fn commit(&self, observation: ledger::CommitObservation) {
        self.group_events.observe(observation.events as f64);
        self.sync_latency.observe(observation.sync.as_secs_f64());
    }

    /// Counts a subscriber until the guard is dropped.
    pub fn subscriber(&self) -> SubscriberGuard {
        self.subscribers.inc();
        SubscriberGuard(self.subscribers.clone())
    }

    /// The number of live subscribers.
    pub fn subscribers(&self) -> u64 {
        u64::try_from(self.subscribers.get()).unwrap_or(0)
    }

    /// Records a passed verification of `events` events, finished at `unix_seconds`.
    pub fn verified(&self, events: u64, unix_seconds: u64, seconds: f64) {
        self.verify_runs.inc();
        self.verify_failing.set(0);
        self.verify_last_success.set(i64::try_from(unix_seconds).unwrap_or(i64::MAX));
        self.verify_last_events.set(i64::try_from(events).unwrap_or(i64::MAX));
        self.verify_last_duration.set(seconds);
    }

    /// Records how far the running verification has come.
    pub fn verify_progress(&self, done: u64, total: u64) {
        self.verify_progress.set(i64::try_from(done).unwrap_or(i64::MAX));
        self.verify_target.set(i64::try_from(total).unwrap_or(i64::MAX));
    }

    /// Records a failed verification.
    pub fn verification_failed(&self, seconds: f64) {
        self.verify_runs.inc();
        self.verify_failures.inc();
        self.verify_failing.set(1);
        self.verify_last_duration.set(seconds);
    }

    /// Records an answer given again from the kept bytes.
    pub fn answer_reused(&self) {
        self.answers_reused.inc();
    }

    /// Records how many bytes of answers are kept.
    pub fn answers_kept(&self, bytes: usize) {
        self.answers_kept.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The text exposition.
    pub fn render(&self, head_position: u64) -> String {
        self.head.set(i64::try_from(head_position).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "the metrics could not be rendered");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_builds_and_renders_as_prometheus_text() {
        let metrics = Metrics::new();
        metrics.request("/graphql", "POST", 200, Duration::from_millis(3));
        metrics.operation(Some("Dashboard"), Duration::from_millis(2), &["INVALID_INPUT"]);
        metrics.commit(ledger::CommitObservation { events: 3, sync: Duration::from_micros(800) });
        metrics.answer_reused();
        metrics.answers_kept(2048);
        let text = metrics.render(42);
        for expected in [
            "samverkan_head_position 42",
            "samverkan_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"} 1",
            "samverkan_graphql_operations_total{operation=\"Dashboard\",outcome=\"error\"} 1",
            "samverkan_graphql_errors_total{code=\"INVALID_INPUT\"} 1",
            "samverkan_commit_group_events_sum 3",
            "samverkan_request_duration_seconds_count 1",
            "samverkan_graphql_answers_reused_total 1",
            "samverkan_graphql_answers_kept_bytes 2048",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }

    #[test]
    fn operation_names_are_bounded() {
        let metrics = Metrics::new();
        assert_eq!(metrics.operation_label(None), "anonymous");
        assert_eq!(metrics.operation_label(Some("not a name")), "other");
        for i in 0..MAX_OPERATION_NAMES {
            assert_eq!(metrics.operation_label(Some(&format!("Op{i}"))), format!("Op{i}"));
        }
        assert_eq!(metrics.operation_label(Some("OneTooMany")), "other");
        assert_eq!(metrics.operation_label(Some("Op7")), "Op7", "a known name keeps its label");
    }
}
