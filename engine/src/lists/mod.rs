//! Watch lists (SPEC §6): the entry model and the loaders for the three formats.
//!
//! - [`ofac`]: the OFAC SDN legacy CSV set (`sdn.csv` + optional `alt.csv` + `add.csv`).
//! - [`csl`]: the US Consolidated Screening List CSV.
//! - [`native`]: the native JSONL format `{id, list, name, aliases[], addresses[], countries[], type}`.
//!
//! Every loader returns [`WatchEntry`] values plus the problems it met ([`LoadReport`]): a bad
//! row is reported with its line number and skipped, never a panic and never silently.

pub mod country;
pub mod csl;
pub mod native;
pub mod ofac;
mod version;

pub use version::content_version;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One watch-list entry: a sanctioned or denied party with every name it is known by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEntry {
    /// Identifier unique within `list` (OFAC `ent_num`, CSL `_id`/`entity_number`, native `id`).
    pub id: String,
    /// The list's short name, e.g. `OFAC-SDN`, `CSL-ENTITY-LIST`; appears in decisions.
    pub list: String,
    /// The primary name, as published.
    pub name: String,
    /// Every alias (a.k.a., f.k.a., n.k.a.), as published, without the primary name.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Free-text addresses, as published (one string per address).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// ISO 3166-1 alpha-2 codes of every country tied to the entry (addresses, nationality,
    /// citizenship), upper case, deduplicated, sorted.
    #[serde(default)]
    pub countries: Vec<String>,
    #[serde(rename = "type", default)]
    pub entity_type: EntityType,
}

impl WatchEntry {
    /// The key under which the entry is published and diffed: `"{list}:{id}"`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.list, self.id)
    }

    /// The primary name followed by every alias.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Individual,
    Entity,
    Vessel,
    Aircraft,
    #[default]
    Unknown,
}

/// The formats a watch list can be loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListFormat {
    /// A directory holding `sdn.csv` and optionally `alt.csv` and `add.csv`.
    OfacSdn,
    /// The Consolidated Screening List CSV, with a header row.
    Csl,
    /// Native JSONL, one entry per line.
    Jsonl,
}

/// A problem met while loading a list. Loading goes on past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadProblem {
    pub file: PathBuf,
    /// 1-based line (or CSV record) number, when the problem is tied to one.
    pub line: Option<u64>,
    pub problem: String,
}

impl std::fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.problem),
            None => write!(f, "{}: {}", self.file.display(), self.problem),
        }
    }
}

/// The entries a loader produced and the problems it met on the way.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub entries: Vec<WatchEntry>,
    pub problems: Vec<LoadProblem>,
}

/// A list could not be loaded at all (missing file, unreadable directory).
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Format { path: PathBuf, problem: String },
}

/// Loads one list in the given format. `list_name` overrides the list label of the entries
/// where the format does not carry one (OFAC: default `OFAC-SDN`; CSL and JSONL carry theirs).
pub fn load(
    format: ListFormat,
    path: &Path,
    list_name: Option<&str>,
) -> Result<LoadReport, ListError> {
    match format {
        ListFormat::OfacSdn => ofac::load_dir(path, list_name.unwrap_or("OFAC-SDN")),
        ListFormat::Csl => csl::load_file(path, list_name),
        ListFormat::Jsonl => native::load_file(path, list_name),
    }
}

/// Helpers shared by the loaders (crate-private): a forgiving CSV record reader, field
/// decoding and text clean-up.
pub(crate) mod text {
    use std::borrow::Cow;

    /// A quoted CSV field may span at most this many lines; past it the quote is taken as
    /// unbalanced, the record's first line is reported, and reading resumes on the next line.
    pub(crate) const MAX_RECORD_LINES: u64 = 100;

    /// Windows-1252 characters for the bytes 0x80..=0x9F (`None`: undefined, read as Latin-1).
    #[rustfmt::skip]
    const CP1252_HIGH: [Option<char>; 32] = [
        Some('\u{20AC}'), None, Some('\u{201A}'), Some('\u{0192}'),
        Some('\u{201E}'), Some('\u{2026}'), Some('\u{2020}'), Some('\u{2021}'),
        Some('\u{02C6}'), Some('\u{2030}'), Some('\u{0160}'), Some('\u{2039}'),
        Some('\u{0152}'), None, Some('\u{017D}'), None,
        None, Some('\u{2018}'), Some('\u{2019}'), Some('\u{201C}'),
        Some('\u{201D}'), Some('\u{2022}'), Some('\u{2013}'), Some('\u{2014}'),
        Some('\u{02DC}'), Some('\u{2122}'), Some('\u{0161}'), Some('\u{203A}'),
        Some('\u{0153}'), None, Some('\u{017E}'), Some('\u{0178}'),
    ];

    /// The Windows-1252 reading of a C1 control character (U+0080..=U+009F), which is what
    /// such a character means when a Windows-1252 file was once decoded as Latin-1.
    fn c1_as_cp1252(c: char) -> char {
        match c {
            '\u{80}'..='\u{9F}' => CP1252_HIGH[c as usize - 0x80].unwrap_or(c),
            _ => c,
        }
    }

    /// Decodes bytes as UTF-8 when they are valid UTF-8, else byte by byte as Windows-1252
    /// (bytes it leaves undefined as Latin-1), so legacy files never fail to load. The flag
    /// says whether the fallback was needed.
    pub(crate) fn decode(bytes: &[u8]) -> (Cow<'_, str>, bool) {
        match std::str::from_utf8(bytes) {
            Ok(text) => (Cow::Borrowed(text), false),
            Err(_) => {
                let text = bytes
                    .iter()
                    .map(|&b| match b {
                        0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)].unwrap_or(char::from(b)),
                        _ => char::from(b),
                    })
                    .collect();
                (Cow::Owned(text), true)
            }
        }
    }

    /// A published value made fit for an entry: trimmed; C1 control characters read as the
    /// Windows-1252 punctuation they stand for (`Xi\u{92}an` → `Xi’an`); any other control
    /// characters (embedded line breaks, tabs) with the spaces around them become one space.
    pub(crate) fn clean(value: &str) -> String {
        if !value.chars().any(char::is_control) {
            return value.trim().to_owned();
        }
        let repaired: String = value.chars().map(c1_as_cp1252).collect();
        let mut out = String::with_capacity(repaired.len());
        for piece in repaired.split(char::is_control).map(str::trim) {
            if piece.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(piece);
        }
        out
    }

    /// Adds `alias` to `aliases` unless it is empty, the primary `name`, or already there.
    pub(crate) fn push_alias(aliases: &mut Vec<String>, name: &str, alias: String) {
        if !alias.is_empty() && alias != name && !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }

    /// Country codes as an entry keeps them: sorted, deduplicated, owned.
    pub(crate) fn finish_countries(mut codes: Vec<&'static str>) -> Vec<String> {
        codes.sort_unstable();
        codes.dedup();
        codes.into_iter().map(str::to_owned).collect()
    }

    /// One CSV record.
    #[derive(Debug)]
    pub(crate) struct CsvRecord {
        /// 1-based line the record starts on.
        pub(crate) line: u64,
        /// 1-based line the record ends on (> `line` when a quoted field holds line breaks).
        pub(crate) end_line: u64,
        /// Byte offset of the record's start.
        start: usize,
        pub(crate) fields: Vec<String>,
        /// Whether some field was not UTF-8 and was read as Windows-1252.
        pub(crate) recoded: bool,
    }

    impl CsvRecord {
        /// The problem of a record with `found` fields where `expected` were due.
        pub(crate) fn field_count_problem(&self, expected: usize) -> String {
            let found = self.fields.len();
            if self.end_line > self.line {
                format!(
                    "expected {expected} fields, found {found} in a record spanning lines {}-{} \
                     (an unbalanced quote?); row skipped, reading resumes on the next line",
                    self.line, self.end_line
                )
            } else {
                format!("expected {expected} fields, found {found}; row skipped")
            }
        }
    }

    /// A record whose quoted field never closes.
    #[derive(Debug)]
    pub(crate) struct CsvError {
        pub(crate) line: u64,
        pub(crate) problem: String,
    }

    /// A forgiving RFC 4180 reader over a whole file (`,`, `"` quoting with `""` escapes,
    /// LF or CRLF). Unlike a streaming reader it isolates damage: a quote that never closes
    /// costs one line (reported), not the rest of the file. A leading UTF-8 BOM, blank lines
    /// and the trailing DOS end-of-file marker (control-Z, which ends the legacy OFAC files)
    /// are skipped. Text outside quotes is kept literally, as the `csv` crate does.
    pub(crate) struct CsvReader<'a> {
        data: &'a [u8],
        pos: usize,
        line: u64,
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        AfterQuote,
    }

    impl<'a> CsvReader<'a> {
        pub(crate) fn new(data: &'a [u8]) -> Self {
            let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
            let mut end = data.len();
            if data.contains(&0x1A) {
                while end > 0 && (data[end - 1] == 0x1A || data[end - 1].is_ascii_whitespace()) {
                    end -= 1;
                }
            }
            CsvReader {
                data: &data[..end],
                pos: 0,
                line: 1,
            }
        }

        /// Re-reads from the line after `record`'s first line: for a record spanning several
        /// lines that turned out malformed, so that the lines it swallowed get their chance.
        pub(crate) fn resume_after_first_line(&mut self, record: &CsvRecord) {
            if record.end_line > record.line {
                self.pos = self.next_line_start(record.start);
                self.line = record.line + 1;
            }
        }

        fn next_line_start(&self, from: usize) -> usize {
            self.data[from..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.data.len(), |offset| from + offset + 1)
        }
    }

    impl Iterator for CsvReader<'_> {
        type Item = Result<CsvRecord, CsvError>;

        fn next(&mut self) -> Option<Self::Item> {
            let data = self.data;
            loop {
                if self.pos >= data.len() {
                    return None;
                }
                let start = self.pos;
                let line = self.line;
                let mut fields: Vec<Vec<u8>> = Vec::new();
                let mut field: Vec<u8> = Vec::new();
                let mut state = State::FieldStart;
                let mut breaks = 0u64;
                let mut ended = false;
                let mut i = start;
                while i < data.len() {
                    let b = data[i];
                    if state == State::Quoted {
                        if b == b'"' {
                            state = State::AfterQuote;
                        } else {
                            if b == b'\n' {
                                breaks += 1;
                                if breaks >= MAX_RECORD_LINES {
                                    break;
                                }
                            }
                            field.push(b);
                        }
                    } else {
                        match b {
                            b'\n' => {
                                ended = true;
                                break;
                            }
                            b'\r' if data.get(i + 1).is_none_or(|&next| next == b'\n') => {}
                            b',' => {
                                fields.push(std::mem::take(&mut field));
                                state = State::FieldStart;
                            }
                            b'"' if state == State::FieldStart => state = State::Quoted,
                            b'"' if state == State::AfterQuote => {
                                field.push(b'"');
                                state = State::Quoted;
                            }
                            _ => {
                                field.push(b);
                                state = State::Unquoted;
                            }
                        }
                    }
                    i += 1;
                }
                if state == State::Quoted {
                    self.pos = self.next_line_start(start);
                    self.line = line + 1;
                    return Some(Err(CsvError {
                        line,
                        problem: format!(
                            "unbalanced quotes: a quoted field opened on this line is not closed \
                             {}; line skipped",
                            if i >= data.len() && breaks < MAX_RECORD_LINES {
                                "before the end of the file".to_owned()
                            } else {
                                format!("within {MAX_RECORD_LINES} lines")
                            }
                        ),
                    }));
                }
                fields.push(field);
                self.pos = if ended { i + 1 } else { i };
                self.line = line + breaks + 1;
                if fields.len() == 1 && fields[0].iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let mut recoded = false;
                let fields = fields
                    .iter()
                    .map(|bytes| {
                        let (text, fallback) = decode(bytes);
                        recoded |= fallback;
                        text.into_owned()
                    })
                    .collect();
                return Some(Ok(CsvRecord {
                    line,
                    end_line: line + breaks,
                    start,
                    fields,
                    recoded,
                }));
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn read(data: &[u8]) -> Vec<Result<(u64, Vec<String>), u64>> {
            CsvReader::new(data)
                .map(|item| item.map(|r| (r.line, r.fields)).map_err(|e| e.line))
                .collect()
        }

        fn ok(line: u64, fields: &[&str]) -> Result<(u64, Vec<String>), u64> {
            Ok((line, fields.iter().map(|f| f.to_string()).collect()))
        }

        #[test]
        fn reads_quoted_fields_crlf_and_skips_blank_lines_and_control_z() {
            let data = b"\xEF\xBB\xBF1,\"a, \"\"b\"\"\",-0- \r\n\r\n2,\"x\ny\",z\r\n\x1a";
            assert_eq!(
                read(data),
                vec![
                    ok(1, &["1", "a, \"b\"", "-0- "]),
                    ok(3, &["2", "x\ny", "z"])
                ]
            );
        }

        #[test]
        fn an_unclosed_quote_costs_one_line() {
            let data = b"1,\"a,b\n2,c\n3,d\n";
            assert_eq!(
                read(data),
                vec![Err(1), ok(2, &["2", "c"]), ok(3, &["3", "d"])]
            );
        }

        #[test]
        fn a_bad_multi_line_record_can_be_reread_from_its_second_line() {
            // The stray quote on line 1 closes on line 3: one record of lines 1-3.
            let mut reader = CsvReader::new(b"1,\"a,b\n2,c\n3,\"d\"\n4,e\n");
            let first = reader.next().and_then(Result::ok).expect("a record");
            assert_eq!((first.line, first.end_line, first.fields.len()), (1, 3, 2));
            reader.resume_after_first_line(&first);
            let rest: Vec<_> = reader
                .map(|item| item.map(|r| (r.line, r.fields)).map_err(|e| e.line))
                .collect();
            assert_eq!(
                rest,
                vec![ok(2, &["2", "c"]), ok(3, &["3", "d"]), ok(4, &["4", "e"])]
            );
        }

        #[test]
        fn literal_quotes_outside_quoted_fields_and_empty_trailing_fields() {
            assert_eq!(read(b"a\"b,\"c\"d,\n"), vec![ok(1, &["a\"b", "cd", ""])]);
        }

        #[test]
        fn non_utf8_bytes_are_read_as_windows_1252() {
            let mut reader = CsvReader::new(b"caf\xE9,\x93q\x94\n");
            let record = reader
                .next()
                .and_then(Result::ok)
                .map(|r| (r.fields, r.recoded));
            assert_eq!(
                record,
                Some((vec!["café".to_owned(), "“q”".to_owned()], true))
            );
        }

        #[test]
        fn clean_trims_and_repairs() {
            assert_eq!(clean("  AEROCARIBBEAN  "), "AEROCARIBBEAN");
            assert_eq!(clean("Xi\u{92}an"), "Xi\u{2019}an");
            assert_eq!(clean("Road,\nMinhang"), "Road, Minhang");
            assert_eq!(
                clean("Government Flying Service\n\n"),
                "Government Flying Service"
            );
            assert_eq!(clean("a  b"), "a  b");
        }
    }
}
