//! The committed `schema.graphql` is the schema the server serves: this test fails when they differ.
//! Regenerate with `cargo run --bin samverkan -- schema > schema.graphql` and review the diff.

#[test]
fn the_committed_schema_matches_the_generated_sdl() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).expect("schema.graphql is committed at the repository root");
    let generated = graphql::sdl();
    if committed != generated {
        let first = committed.lines().zip(generated.lines()).position(|(a, b)| a != b);
        panic!(
            "schema.graphql differs from the generated SDL (first differing line: {:?}); regenerate it with \
             `cargo run --bin samverkan -- schema > schema.graphql`",
            first.map(|i| i + 1)
        );
    }
}
