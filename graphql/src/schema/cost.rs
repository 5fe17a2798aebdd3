//! Cost before work (issue 20): a document is priced on its parse tree, before validation or any
//! execution, and refused when its expanded size is over the limit. async-graphql's own complexity
//! check runs only after validation, and validation expands fragments: a 1 KB document whose
//! fragments each spread the one before twice costs minutes of CPU before it is refused. Here every
//! fragment is priced once (memoized), so the price of any document is computed in time linear in
//! its length.
//!
//! The price of a field is 1 plus the price of its selection times the field's expected list
//! length; a county-wide list or a log scan (`agreements`, `events`, `changes`, …) also costs a
//! base price for the work of computing it, whatever is selected – so sixty aliases of
//! `agreements(at:)` are priced as sixty county-wide folds.

use std::collections::HashMap;

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// The work of computing a county-wide answer or a log scan, in the units of one field.
pub(crate) const HEAVY_BASE: u64 = 5_000;

/// The expected length of a list field's answer (1 for every field not named here), and whether
/// computing it is heavy work of its own: the root's county-wide lists and log scans are; a list
/// inside an answer (an agreement's parties, its `because`) is only its length.
fn list_of(field: &str, root: bool) -> (u64, bool) {
    match (field, root) {
        ("agreements", true) => (100, true),
        // A county-wide fold, then one page: its length is that of `edges`/`nodes` below.
        ("agreementsConnection", true) => (1, true),
        ("changes" | "deadlines", true) => (200, true),
        ("findings" | "events" | "problems" | "decisions", true) => (100, true),
        ("parties" | "groups" | "cases" | "bodies" | "coordinators" | "funds", true) => (30, true),
        // Each duty is checked against every agreement in force: a county-wide fold.
        ("statutoryDuties", true) => (10, true),
        ("agreements", false) => (30, false),
        ("references" | "statutoryBasis", false) => (5, false),
        ("because" | "history" | "citedBy" | "memberHistory" | "versions" | "changes", false) => (20, false),
        ("parties" | "members" | "pendingParties" | "edges" | "nodes" | "interpretations", false) => (30, false),
        _ => (1, false),
    }
}

/// Refuses a document priced over `max`. One of the request checks of `checks.rs`: it runs before
/// async-graphql's own parse step, which also checks the recursion depth by walking every fragment
/// spread, the exponential work this check exists to avoid (only the persisted-query and read-only
/// checks run before it, and they only parse, in linear time). The document priced here is the one
/// the engine is handed, so it is not parsed twice. Gives the price, by which the executor chooses
/// the request's pool.
pub(super) fn check(document: &ExecutableDocument, max: u64) -> Result<u64, ServerError> {
    let price = price(document);
    if price > max {
        return Err(ServerError::new(
            format!(
                "the query is too expensive: its expanded size is {price} (fields × fragment spreads × expected list lengths, county-wide lists and log scans priced as the work they take); the limit is {max}. Ask for fewer aliases, fewer county-wide lists or fewer nested lists per request"
            ),
            None,
        ));
    }
    Ok(price)
}

/// The price of the most expensive operation of a document.
pub(crate) fn price(document: &ExecutableDocument) -> u64 {
    let mut fragments = Fragments { document, memo: HashMap::new() };
    document.operations.iter().map(|(_, op)| fragments.selection(&op.node.selection_set.node, true)).max().unwrap_or(0)
}

struct Fragments<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's price (spread at the root or inside an answer) once known; `None` while it
    /// is being priced (a cycle, which validation refuses with its own message: priced 0 here).
    memo: HashMap<(&'a str, bool), Option<u64>>,
}

impl<'a> Fragments<'a> {
    /// The price of a selection set; `root` for the operation's own (and a fragment spread there).
    fn selection(&mut self, set: &'a SelectionSet, root: bool) -> u64 {
        let mut total: u64 = 0;
        for item in &set.items {
            let price = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let (length, heavy) = list_of(field.name.node.as_str(), root);
                    let inner = self.selection(&field.selection_set.node, false);
                    let base = if heavy { HEAVY_BASE } else { 1 };
                    base.saturating_add(inner.saturating_mul(length))
                }
                Selection::FragmentSpread(spread) => self.fragment(spread.node.fragment_name.node.as_str(), root),
                Selection::InlineFragment(inline) => self.selection(&inline.node.selection_set.node, root),
            };
            total = total.saturating_add(price);
        }
        total
    }

    fn fragment(&mut self, name: &'a str, root: bool) -> u64 {
        match self.memo.get(&(name, root)) {
            Some(Some(price)) => return *price,
            Some(None) => return 0,
            None => {}
        }
        let Some(definition) = self.document.fragments.get(name) else {
            return 0; // Unknown: validation refuses it.
        };
        self.memo.insert((name, root), None);
        let price = self.selection(&definition.node.selection_set.node, root);
        self.memo.insert((name, root), Some(price));
        price
    }
}

#[cfg(test)]
mod tests {
    use super::price;

    fn priced(query: &str) -> u64 {
        price(&async_graphql::parser::parse_query(query).expect("parses"))
    }

    #[test]
    fn fragments_spread_twice_per_level_are_priced_without_expanding_them() {
        let mut query = String::from("{ ...F30 }\nfragment F0 on Query { ledger { position } }\n");
        for level in 1..=30 {
            query.push_str(&format!("fragment F{level} on Query {{ ...F{} ...F{} }}\n", level - 1, level - 1));
        }
        let start = std::time::Instant::now();
        // 2^30 copies of `ledger { position }`.
        assert_eq!(priced(&query), 2 * (1u64 << 30));
        assert!(start.elapsed() < std::time::Duration::from_millis(50), "{:?}", start.elapsed());
    }

    #[test]
    fn aliases_of_county_wide_lists_each_cost_a_county_wide_fold() {
        let one = priced("{ agreements { id } }");
        let sixty: String = (0..60).map(|i| format!("a{i}: agreements {{ id }} ")).collect();
        assert_eq!(priced(&format!("{{ {sixty} }}")), 60 * one);
        assert!(one >= super::HEAVY_BASE);
    }

    /// A template constant of the dashboard's `app.js` with its `${NAME}` interpolations (other
    /// constants of the file) filled in.
    fn dashboard_constant(app: &str, name: &str) -> String {
        let start = app.find(&format!("const {name} = ")).expect("the constant is in app.js") + name.len() + 9;
        let rest = &app[start..];
        let text = if let Some(body) = rest.strip_prefix('`') {
            &body[..body.find('`').expect("the template ends")]
        } else {
            rest[..rest.find(';').expect("the constant ends")].trim_matches('\'')
        };
        let mut out = String::new();
        let mut text = text;
        while let Some(open) = text.find("${") {
            let close = open + text[open..].find('}').expect("the interpolation ends");
            out.push_str(&text[..open]);
            out.push_str(&dashboard_constant(app, &text[open + 2..close]));
            text = &text[close + 1..];
        }
        out.push_str(text);
        out
    }

    #[test]
    fn the_dashboards_own_queries_are_well_within_the_limit() {
        let app = include_str!("../../web/app.js");
        for name in ["STATE_QUERY", "CONTEXT_QUERY", "TIMELINE_QUERY", "AGREEMENTS_QUERY"] {
            let query = dashboard_constant(app, name);
            assert!(!query.contains("${"), "{query}");
            let price = priced(&query);
            let limit = crate::schema::SchemaLimits::default().max_cost;
            assert!(price * 3 < limit, "{name} is priced {price}, over a third of the limit {limit}");
        }
    }

    #[test]
    fn a_page_of_agreements_costs_a_county_wide_fold_and_its_page() {
        let page = priced("{ agreementsConnection(first: 50) { totalCount nodes { id title } } }");
        let all = priced("{ agreements { id title } }");
        assert!(page >= super::HEAVY_BASE, "the filter and the order need every agreement folded");
        assert!(page < all, "a page is priced below the whole list ({page} vs {all})");
        let sixty: String = (0..60).map(|i| format!("a{i}: agreementsConnection {{ totalCount }} ")).collect();
        assert!(priced(&format!("{{ {sixty} }}")) > crate::schema::SchemaLimits::default().max_cost);
    }

    #[test]
    fn a_cyclic_fragment_is_left_to_validation() {
        assert_eq!(priced("{ ...A }\nfragment A on Query { ...B }\nfragment B on Query { ...A }"), 0);
    }
}
