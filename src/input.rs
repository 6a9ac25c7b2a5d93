//! Files the user hands over (`--patch @FILE`, `--kubeconfig`, `KUBECONFIG`, `lab load
//! --body @FILE`), read with a size cap each: a path such as `/dev/zero` or a huge file
//! fails at once with a usage error instead of growing memory until the process is killed.
//! The caps are documented in the README ("Limits").

use std::io::Read;
use std::path::Path;

use crate::error::CliError;
use crate::text::shown;

/// `--patch @FILE`: the API server's limit on a request body (3 MiB); a bigger patch could
/// never be sent.
pub const PATCH_LIMIT: u64 = 3 * 1024 * 1024;
/// A kubeconfig file: far beyond any real one (certificates inline included).
pub const KUBECONFIG_LIMIT: u64 = 16 * 1024 * 1024;
/// `lab load --body @FILE`: one request body the load generator sends again and again.
pub const BODY_LIMIT: u64 = 16 * 1024 * 1024;

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is larger than {}", size(*.0))]
    TooLarge(u64),
}

/// `n` bytes in the unit the README states limits in.
pub fn size(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Reads at most `limit` bytes of `reader`; one byte more is an error. Never holds more than
/// `limit + 1` bytes, whatever the reader would go on giving.
pub fn read_capped(reader: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

/// Reads the file at `path`, at most `limit` bytes.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_capped(std::fs::File::open(path)?, limit)
}

/// Reads a file named by a flag as UTF-8 text; any failure is a usage error (exit 2)
/// naming the flag and the file, with `hint`.
pub fn read_flag_text(flag: &str, path: &str, limit: u64, hint: &str) -> Result<String, CliError> {
    let fail = |why: String| {
        CliError::usage(
            format!("cannot read {flag} file {}: {why}", shown(path)),
            Some(hint.to_string()),
        )
    };
    let bytes = read_file(Path::new(path), limit).map_err(|e| fail(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| fail("it is not UTF-8 text".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_reader_fails_after_the_limit_plus_one_byte() {
        let endless = std::io::repeat(0);
        assert!(matches!(
            read_capped(endless, 1024),
            Err(ReadError::TooLarge(1024))
        ));
    }

    #[test]
    fn input_up_to_the_limit_is_read_whole() {
        let bytes = read_capped(&[7u8; 1024][..], 1024).expect("at the limit");
        assert_eq!(bytes.len(), 1024);
        assert!(read_capped(&[7u8; 1025][..], 1024).is_err());
    }

    #[test]
    fn dev_zero_as_a_flag_file_is_a_usage_error_naming_the_limit() {
        let e = read_flag_text("--patch", "/dev/zero", PATCH_LIMIT, "a hint").expect_err("capped");
        assert_eq!(
            e.to_string(),
            "cannot read --patch file \"/dev/zero\": it is larger than 3 MiB"
        );
        assert_eq!(e.exit(), crate::exit::Exit::Usage);
    }

    #[test]
    fn limits_are_worded_in_binary_units() {
        assert_eq!(size(3 * 1024 * 1024), "3 MiB");
        assert_eq!(size(256 * 1024), "256 KiB");
        assert_eq!(size(100), "100 bytes");
    }
}
