//! The `samverkan` program, built inside the test crate so that integration tests can run it as a
//! real child process (cargo only builds a package's own binaries for its tests). It is the same code
//! as the product binary: both call `graphql::cli::main`, with the same allocator.

/// The product binary's allocator (`graphql/src/main.rs`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    graphql::cli::main()
}
