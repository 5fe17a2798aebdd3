//! The benchmark's results: latency samples and their percentiles, and the one table every section
//! adds its rows to (measured value, its baseline from the same run, the ratio, the target).

use std::time::Duration;

/// Latency samples in microseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples(Vec<f64>);

impl Samples {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1e6);
    }

    pub(crate) fn push_micros(&mut self, micros: f64) {
        self.0.push(micros);
    }

    pub(crate) fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-quantile (0..=1) by the nearest-rank method; 0 when there are no samples.
    pub(crate) fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((sorted.len() as f64) * p).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub(crate) fn p50(&self) -> f64 {
        self.pct(0.5)
    }

    pub(crate) fn p99(&self) -> f64 {
        self.pct(0.99)
    }
}

/// The median of a few repeated measurements.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Formats microseconds with a sensible unit.
pub(crate) fn us(micros: f64) -> String {
    if micros.abs() >= 10_000.0 {
        format!("{:.1} ms", micros / 1000.0)
    } else if micros.abs() >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.0} µs")
    }
}

/// Formats a rate with thousands separators.
pub(crate) fn rate(per_second: f64, unit: &str) -> String {
    format!("{} {unit}/s", thousands(per_second.round() as u64))
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n as f64 >= 1024.0 * MIB {
        format!("{:.2} GiB", n as f64 / (1024.0 * MIB))
    } else if n as f64 >= MIB {
        format!("{:.1} MiB", n as f64 / MIB)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Whether a row's target is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Met,
    Missed,
    /// The row has no target (context or a breakdown).
    Info,
    /// One side of the comparison was not run (`--sides`): nothing to judge.
    NotMeasured,
}

impl Verdict {
    pub(crate) fn of(met: bool) -> Self {
        if met { Verdict::Met } else { Verdict::Missed }
    }

    /// [`Verdict::of`] for a comparison of two measured rates: [`Verdict::NotMeasured`] when
    /// either side was not run (a rate of 0), so a skipped baseline never reads as a target met.
    pub(crate) fn compared(ours: f64, baseline: f64, met: bool) -> Self {
        if ours > 0.0 && baseline > 0.0 { Verdict::of(met) } else { Verdict::NotMeasured }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "**missed**",
            Verdict::Info => "",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) section: &'static str,
    pub(crate) measurement: String,
    pub(crate) value: String,
    pub(crate) baseline: String,
    pub(crate) ratio: String,
    pub(crate) target: String,
    pub(crate) verdict: Verdict,
}

/// The table all sections write into; printed once at the end (and each row as it is added, so a
/// long run shows progress).
#[derive(Debug, Default)]
pub(crate) struct Report {
    rows: Vec<Row>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn row(
        &mut self,
        section: &'static str,
        measurement: impl Into<String>,
        value: impl Into<String>,
        baseline: impl Into<String>,
        ratio: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) {
        let row = Row {
            section,
            measurement: measurement.into(),
            value: value.into(),
            baseline: baseline.into(),
            ratio: ratio.into(),
            target: target.into(),
            verdict,
        };
        eprintln!(
            "  [{}] {}: {} | {} | {} | {} {}",
            row.section,
            row.measurement,
            row.value,
            row.baseline,
            row.ratio,
            row.target,
            row.verdict.as_str()
        );
        self.rows.push(row);
    }

    /// Orders the rows by section, keeping each section's rows in the order they were added.
    pub(crate) fn sort(&mut self) {
        self.rows.sort_by_key(|r| r.section);
    }

    /// The table as Markdown.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::from(
            "| # | measurement | value | baseline (same run) | ratio | target | |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                r.section,
                r.measurement,
                r.value,
                r.baseline,
                r.ratio,
                r.target,
                r.verdict.as_str()
            ));
        }
        out
    }
}

/// `a / b` as "1.23×", guarding against a zero baseline.
pub(crate) fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 { "–".to_owned() } else { format!("{:.2}×", a / b) }
}
