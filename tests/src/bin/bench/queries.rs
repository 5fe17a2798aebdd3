//! Section 4: as-of queries. `agreement(id, at, asKnownAt)` for random (agreement, valid date,
//! record instant) in process, and the county-wide snapshot `agreements(at)` over HTTP GraphQL
//! from the real server, with the same snapshot in process as its baseline (what HTTP, GraphQL and
//! JSON add).

use std::time::Instant;

use ledger::{AgreementId, Date, Timestamp};
use projections::Projections;
use samverkan_tests::Rng;

use crate::Plan;
use crate::report::{Report, Samples, Verdict, bytes, ratio, thousands, us};
use crate::server::{Http, Server};

/// The selection of the county-wide snapshot: what a "what applied on this date" page shows.
const SNAPSHOT: &str = "id title status inForce inForceFrom inForceUntil version";

fn random_date(rng: &mut Rng) -> Date {
    Date::from_ymd(rng.range(2010, 2027) as i32, rng.range(1, 13) as u32, rng.range(1, 29) as u32)
        .unwrap_or_else(Date::today_utc)
}

/// The in-process part (no server needed).
pub(crate) fn in_process(
    plan: &Plan,
    projections: &Projections,
    last: Timestamp,
    report: &mut Report,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let ids: Vec<AgreementId> = projections.agreements(Date::today_utc(), now).into_iter().map(|a| a.id).collect();
    anyhow::ensure!(!ids.is_empty(), "no agreements to query");
    let (first, last) = record_span(last);
    let mut rng = Rng::new(42);
    let mut lat = Samples::with_capacity(plan.queries);
    let mut found = 0usize;
    for _ in 0..plan.queries {
        let id = &ids[rng.range(0, ids.len() as u64) as usize];
        let known = Timestamp::from_micros(rng.range(first as u64, last as u64 + 1) as i64);
        let at = random_date(&mut rng);
        let t = Instant::now();
        let view = projections.agreement(id, at, known);
        lat.push(t.elapsed());
        found += usize::from(view.is_some());
    }
    report.row(
        "4",
        format!(
            "agreement(at, asKnownAt) in process, {} random queries over {} agreements ({found} existed then), p50",
            thousands(plan.queries as u64),
            thousands(ids.len() as u64)
        ),
        us(lat.p50()),
        "",
        "",
        "",
        Verdict::Info,
    );
    report.row(
        "4",
        "agreement(at, asKnownAt) in process, p99",
        us(lat.p99()),
        "",
        "",
        "p99 ≤ 1 ms",
        Verdict::of(lat.p99() <= 1000.0),
    );
    Ok(())
}

/// The span of record time to draw `asKnownAt` from (microseconds): every generated history starts
/// in January 2010, and the head carries the last record time.
fn record_span(last: Timestamp) -> (i64, i64) {
    let first = Date::from_ymd(2010, 1, 1).map_or(0, |d| Timestamp::start_of(d).as_micros());
    (first, last.as_micros().max(first))
}

/// The county-wide snapshot over HTTP against the same snapshot in process.
pub(crate) fn over_http(plan: &Plan, server: &Server, report: &mut Report) -> anyhow::Result<()> {
    let mut http = Http::connect(server.addr)?;
    let mut rng = Rng::new(7);
    let query = |at: Date| format!("{{ agreements(at: \"{at}\") {{ {SNAPSHOT} }} }}");
    // Warm up the connection and the server.
    let first = http.graphql(&query(Date::today_utc()))?;
    let (mut over_http, mut local) = (Samples::default(), Samples::default());
    let mut size = first.len();
    for _ in 0..plan.http_queries {
        let at = random_date(&mut rng);
        let t = Instant::now();
        let body = http.graphql(&query(at))?;
        over_http.push(t.elapsed());
        size = size.max(body.len());
        let projections = server.app.projections().map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let t = Instant::now();
        let views = projections.agreements(at, Timestamp::now());
        local.push(t.elapsed());
        drop(views);
    }
    let agreements = server
        .app
        .projections()
        .map_err(|e| anyhow::anyhow!("{}", e.message))?
        .agreements(Date::today_utc(), Timestamp::now())
        .len();
    report.row(
        "4",
        format!(
            "county-wide agreements(at) over HTTP GraphQL, {} random dates, {} agreements, up to {} per answer, p50",
            plan.http_queries,
            thousands(agreements as u64),
            bytes(size as u64)
        ),
        us(over_http.p50()),
        format!("same snapshot in process p50 {}", us(local.p50())),
        ratio(over_http.p50(), local.p50()),
        "",
        Verdict::Info,
    );
    report.row(
        "4",
        "county-wide agreements(at) over HTTP GraphQL, p99",
        us(over_http.p99()),
        format!("same snapshot in process p99 {}", us(local.p99())),
        ratio(over_http.p99(), local.p99()),
        "p99 ≤ 10 ms",
        Verdict::of(over_http.p99() <= 10_000.0),
    );
    Ok(())
}
