//! Samverkan's integration tests: one binary, one module per area. Each test gets its own temporary
//! directory; nothing touches the network.

mod authz;
mod bad_input;
mod cli;
mod full_disk;
mod generator;
mod graphql_http;
mod graphql_mutations;
mod graphql_queries;
mod graphql_schema;
mod graphql_subscriptions;
mod hostile;
mod ledger_append;
mod ledger_crash;
mod ledger_durability;
mod ledger_guard;
mod ledger_integrity;
mod ledger_jsonl;
mod ledger_power_loss;
mod ledger_tamper;
mod load;
mod materialized;
mod no_rewrite;
mod online;
mod process;
mod projections_fixtures;
mod projections_properties;
mod server_crash;
mod snapshots;
mod start_snapshot;
mod support;
mod tidy;
mod transparency;
mod writers;
