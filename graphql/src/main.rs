//! The `samverkan` binary: hands the command line to the library.

fn main() -> std::process::ExitCode {
    graphql::cli::main()
}
