//! The `samverkan` binary: hands the command line to the library.

/// jemalloc instead of the system's malloc (the workspace's `Cargo.toml` says why).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    graphql::cli::main()
}
