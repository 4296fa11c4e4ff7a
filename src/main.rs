//! `parcel-screener`: parses the command line and hands over to the library.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the per-record allocations of parsing and
/// screening cost a third of glibc malloc's instructions with it (BENCHMARKS.md, "Profile of
/// the hot path"); `allocator` says how it is called. Set here, in the binary, so the library
/// leaves the choice to its users (the tests measure heap use through glibc's `mallinfo2`).
#[global_allocator]
static GLOBAL_ALLOCATOR: parcel_screener::allocator::Allocator =
    parcel_screener::allocator::Allocator;

fn main() -> ExitCode {
    let cli = parcel_screener::cli::Cli::parse();
    match parcel_screener::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", parcel_screener::cli::describe_error(&error));
            ExitCode::from(2)
        }
    }
}
