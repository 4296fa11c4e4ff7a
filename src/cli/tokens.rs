//! `parcel-screener tokens hash`: the SHA-256 that `[[admin.tokens]]` stores for a bearer
//! token of the enrollment API. The token is read from standard input (not from the command
//! line, where it would land in the shell history and the process list).

use clap::Subcommand;
use std::io::Read;
use std::process::ExitCode;

/// Tokens shorter than this are accepted, with a warning: a bearer token should be random
/// and long (e.g. `openssl rand -hex 32`, 64 characters).
const RECOMMENDED_MIN_CHARS: usize = 32;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Read a token on stdin, print its SHA-256 (64 hex digits) for `sha256` in
    /// `[[admin.tokens]]`. Surrounding whitespace (the newline of `echo`) is ignored, as
    /// it is in the `Authorization` header.
    Hash,
}

pub fn run(command: &TokensCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokensCommand::Hash => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            let token = input.trim();
            if token.is_empty() {
                eprintln!("tokens hash: no token on stdin (e.g. printf %s \"$TOKEN\" | parcel-screener tokens hash)");
                return Ok(ExitCode::from(2));
            }
            if token.chars().any(char::is_whitespace) {
                eprintln!("tokens hash: a token cannot contain whitespace");
                return Ok(ExitCode::from(2));
            }
            if token.chars().count() < RECOMMENDED_MIN_CHARS {
                eprintln!(
                    "warning: the token has {} characters; use a random one of at least \
                     {RECOMMENDED_MIN_CHARS} (e.g. openssl rand -hex 32)",
                    token.chars().count()
                );
            }
            println!("{}", crate::api::sha256_hex(token));
            Ok(ExitCode::SUCCESS)
        }
    }
}
