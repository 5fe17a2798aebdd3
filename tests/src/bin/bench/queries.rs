//! Section 4: as-of queries. `agreement(id, at, asKnownAt)` for random (agreement, valid date,
//! record instant) in process, and the county-wide snapshot `agreements(at)` over HTTP GraphQL
//! from the real server, with the same snapshot in process as its baseline (what HTTP, GraphQL and
//! JSON add). Each in-process answer is also measured by the fold from the raw events
//! (`agreement_by_fold`, `agreements_by_fold`), the specification the materialized timelines
//! replace, alternating query by query.

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
    let mut fold = Samples::with_capacity(plan.queries);
    let mut found = 0usize;
    for _ in 0..plan.queries {
        let id = &ids[rng.range(0, ids.len() as u64) as usize];
        let known = Timestamp::from_micros(rng.range(first as u64, last as u64 + 1) as i64);
        let at = random_date(&mut rng);
        let t = Instant::now();
        let view = projections.agreement_shared(id, at, known);
        lat.push(t.elapsed());
        let t = Instant::now();
        let folded = projections.agreement_by_fold(id, at, known);
        fold.push(t.elapsed());
        anyhow::ensure!(
            view.as_deref() == folded.as_ref(),
            "materialized answer differs from the fold for {id} at {at}"
        );
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
        format!("fold p50 {}", us(fold.p50())),
        ratio(lat.p50(), fold.p50()),
        "",
        Verdict::Info,
    );
    report.row(
        "4",
        "agreement(at, asKnownAt) in process, p99",
        us(lat.p99()),
        format!("fold p99 {}", us(fold.p99())),
        ratio(lat.p99(), fold.p99()),
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
///
/// The same random dates are asked twice. The first time the server has never answered the date
/// and folds what its materialized timelines do not hold yet ("first ask"); the second time the
/// timelines hold it ("asked again"). In process, the materialized list and the fold from the raw
/// events are timed after each HTTP answer, alternating.
pub(crate) fn over_http(plan: &Plan, server: &Server, report: &mut Report) -> anyhow::Result<()> {
    let mut http = Http::connect(server.addr)?;
    let mut rng = Rng::new(7);
    let query = |at: Date| format!("{{ agreements(at: \"{at}\") {{ {SNAPSHOT} }} }}");
    // Warm up the connection and the server.
    let first = http.graphql(&query(Date::today_utc()))?;
    let dates: Vec<Date> = (0..plan.http_queries).map(|_| random_date(&mut rng)).collect();
    let mut over_http = [Samples::default(), Samples::default()];
    let (mut local, mut fold) = (Samples::default(), Samples::default());
    let mut size = first.len();
    for pass in &mut over_http {
        for at in dates.iter().copied() {
            let t = Instant::now();
            let body = http.graphql(&query(at))?;
            pass.push(t.elapsed());
            size = size.max(body.len());
            let projections = server.app.projections().map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let now = Timestamp::now();
            let t = Instant::now();
            // What the server's resolver calls: the materialized views, shared.
            let views = projections.agreements_shared(at, now);
            local.push(t.elapsed());
            let t = Instant::now();
            let folded = projections.agreements_by_fold(at, now);
            fold.push(t.elapsed());
            anyhow::ensure!(
                views.len() == folded.len() && views.iter().zip(&folded).all(|(a, b)| **a == *b),
                "materialized list differs from the fold at {at}"
            );
        }
    }
    let [cold, warm] = over_http;
    // The same dates a third time by a client that asks for gzip and decodes it, as a browser does.
    let mut gzip_client = Http::connect(server.addr)?.with_gzip();
    let mut gzipped = Samples::default();
    for at in dates.iter().copied() {
        let t = Instant::now();
        let body = gzip_client.graphql(&query(at))?;
        gzipped.push(t.elapsed());
        anyhow::ensure!(body.len() > 2 && body.starts_with(b"{\"data\""), "a gzip answer that is not one");
    }
    let (hits, evicted) = {
        let projections = server.app.projections().map_err(|e| anyhow::anyhow!("{}", e.message))?;
        (projections.materialized_answers(), projections.materialized_evictions())
    };
    let agreements = server
        .app
        .projections()
        .map_err(|e| anyhow::anyhow!("{}", e.message))?
        .agreements(Date::today_utc(), Timestamp::now())
        .len();
    report.row(
        "4",
        format!(
            "county-wide agreements(at) over HTTP GraphQL, {} random dates asked twice, {} agreements, up to {} per answer: first ask, p50",
            plan.http_queries,
            thousands(agreements as u64),
            bytes(size as u64)
        ),
        us(cold.p50()),
        format!("in-process fold p50 {}", us(fold.p50())),
        ratio(cold.p50(), fold.p50()),
        "",
        Verdict::Info,
    );
    report.row(
        "4",
        "county-wide agreements(at) over HTTP GraphQL, first ask, p99",
        us(cold.p99()),
        format!("in-process fold p99 {}", us(fold.p99())),
        ratio(cold.p99(), fold.p99()),
        "",
        Verdict::Info,
    );
    report.row(
        "4",
        "county-wide agreements(at) over HTTP GraphQL, asked again, p50",
        us(warm.p50()),
        format!("same snapshot in process p50 {}", us(local.p50())),
        ratio(warm.p50(), local.p50()),
        "",
        Verdict::Info,
    );
    // Issue 19's targets: 3 ms at a county's size (hundreds of agreements), 60 ms at the 1M-event
    // benchmark's 16,959.
    let (target, target_us) = if agreements > 1_000 { ("p99 ≤ 60 ms", 60_000.0) } else { ("p99 ≤ 3 ms", 3_000.0) };
    report.row(
        "4",
        "county-wide agreements(at) over HTTP GraphQL, asked again, p99",
        us(warm.p99()),
        format!("same snapshot in process p99 {}", us(local.p99())),
        ratio(warm.p99(), local.p99()),
        target,
        Verdict::of(warm.p99() <= target_us),
    );
    report.row(
        "4",
        "— the same asked a third time by a client accepting gzip (decoded by it, as a browser does), p50",
        us(gzipped.p50()),
        format!("same snapshot in process p50 {}", us(local.p50())),
        ratio(gzipped.p50(), local.p50()),
        "",
        Verdict::Info,
    );
    report.row(
        "4",
        "— the same accepting gzip, p99",
        us(gzipped.p99()),
        format!("same snapshot in process p99 {}", us(local.p99())),
        ratio(gzipped.p99(), local.p99()),
        target,
        Verdict::of(gzipped.p99() <= target_us),
    );
    report.row(
        "4",
        "county-wide agreements(at) in process (materialized timelines), p50",
        us(local.p50()),
        format!("fold from the raw events p50 {}", us(fold.p50())),
        ratio(local.p50(), fold.p50()),
        "",
        Verdict::Info,
    );
    report.row(
        "4",
        "county-wide agreements(at) in process (materialized timelines), p99",
        us(local.p99()),
        format!("fold from the raw events p99 {}", us(fold.p99())),
        ratio(local.p99(), fold.p99()),
        // Issue 19's 1 ms is for a county's few hundred agreements; at the 1M-event size its target
        // is the answer over HTTP (60 ms, above).
        if agreements > 1_000 { "(1 ms is the target at a county's size)" } else { "p99 ≤ 1 ms" },
        if agreements > 1_000 { Verdict::Info } else { Verdict::of(local.p99() <= 1_000.0) },
    );
    report.row(
        "4",
        "— the server's agreement answers given from a materialized timeline / answers removed by the memory bound",
        format!("{} / {}", thousands(hits), thousands(evicted)),
        "",
        "",
        "",
        Verdict::Info,
    );
    Ok(())
}
