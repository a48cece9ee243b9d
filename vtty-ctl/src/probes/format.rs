//! Tracepoint `format` files: parsing, and the field offsets the programs need.
//!
//! tracefs describes each event's record in `events/<system>/<event>/format`, one
//! line per field:
//!
//! ```text
//! \tfield:u64 nsid;\toffset:8;\tsize:8;\tsigned:0;
//! ```
//!
//! The probes take every offset from there and check that a field shared by
//! several events has one offset and the size the programs read.

use std::path::{Path, PathBuf};

use vtty_common::probe::{Field, FieldOffsets, TRACEPOINTS, Tracepoint};

use super::environment::trace_system_dir;
use super::error::ProbeError;

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatField {
    /// The C type as tracefs prints it, for example `u64` or `char`.
    pub c_type: String,
    /// The field name without array brackets.
    pub name: String,
    /// Byte offset in the record, counting the common header.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
    /// True for a signed type.
    pub signed: bool,
}

/// A parsed `format` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFormat {
    /// The event name (`name:` line).
    pub name: String,
    /// The event id (`ID:` line).
    pub id: u64,
    /// Every field, the common header included.
    pub fields: Vec<FormatField>,
}

impl EventFormat {
    /// Finds the field called `name`.
    pub fn field(&self, name: &str) -> Option<&FormatField> {
        self.fields.iter().find(|field| field.name == name)
    }
}

/// Parses the text of a `format` file. The error names the line that is wrong.
pub fn parse_format(text: &str) -> Result<EventFormat, String> {
    let mut name = None;
    let mut id = None;
    let mut fields = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line_number = number + 1;
        let trimmed = line.trim();
        if let Some(value) = trimmed.strip_prefix("name:") {
            name = Some(value.trim().to_owned());
        } else if let Some(value) = trimmed.strip_prefix("ID:") {
            let parsed = value
                .trim()
                .parse()
                .map_err(|_| format!("line {line_number}: invalid event id {:?}", value.trim()))?;
            id = Some(parsed);
        } else if trimmed.starts_with("field:") {
            let field =
                parse_field(trimmed).map_err(|problem| format!("line {line_number}: {problem}"))?;
            fields.push(field);
        }
    }
    let name = name.ok_or("no `name:` line")?;
    let id = id.ok_or("no `ID:` line")?;
    if fields.is_empty() {
        return Err("no `field:` lines".to_owned());
    }
    Ok(EventFormat { name, id, fields })
}

/// Parses `field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;`.
fn parse_field(line: &str) -> Result<FormatField, String> {
    let mut declaration = None;
    let mut offset = None;
    let mut size = None;
    let mut signed = None;
    for part in line.split(';').map(str::trim).filter(|part| !part.is_empty()) {
        let (key, value) =
            part.split_once(':').ok_or_else(|| format!("expected KEY:VALUE, found {part:?}"))?;
        let number =
            || value.trim().parse::<usize>().map_err(|_| format!("invalid {key} {value:?}"));
        match key.trim() {
            "field" => declaration = Some(value.trim()),
            "offset" => offset = Some(number()?),
            "size" => size = Some(number()?),
            "signed" => signed = Some(number()? != 0),
            _ => {}
        }
    }
    let declaration = declaration.ok_or("no field declaration")?;
    let (c_type, raw_name) = declaration
        .rsplit_once(char::is_whitespace)
        .ok_or_else(|| format!("field declaration {declaration:?} has no type"))?;
    let name = raw_name.split('[').next().unwrap_or(raw_name);
    if name.is_empty() {
        return Err(format!("field declaration {declaration:?} has no name"));
    }
    Ok(FormatField {
        c_type: c_type.trim().to_owned(),
        name: name.to_owned(),
        offset: offset.ok_or("no offset")?,
        size: size.ok_or("no size")?,
        signed: signed.ok_or("no signed")?,
    })
}

/// The parsed format of one of the driver's tracepoints and where it was read.
#[derive(Clone, Debug)]
pub struct TracepointFormat {
    /// The tracepoint.
    pub tracepoint: Tracepoint,
    /// Its `format` file.
    pub path: PathBuf,
    /// The parsed file.
    pub format: EventFormat,
}

/// Reads and parses the `format` file of every driver tracepoint under `tracefs`.
pub fn read_formats(tracefs: &Path) -> Result<Vec<TracepointFormat>, ProbeError> {
    let system = trace_system_dir(tracefs);
    TRACEPOINTS
        .iter()
        .map(|tracepoint| {
            let path = system.join(tracepoint.name).join("format");
            let text =
                std::fs::read_to_string(&path).map_err(|error| ProbeError::io(&path, error))?;
            let format = parse_format(&text)
                .map_err(|problem| ProbeError::Format { path: path.clone(), problem })?;
            Ok(TracepointFormat { tracepoint: *tracepoint, path, format })
        })
        .collect()
}

/// Computes the offsets table from the formats of all tracepoints, checking that
/// each event names itself, has every field its program reads with the size the
/// program reads, and that a shared field has the same offset in every event.
pub fn field_offsets(formats: &[TracepointFormat]) -> Result<FieldOffsets, ProbeError> {
    let mut offsets = FieldOffsets::missing();
    let mut first_seen: [Option<&'static str>; vtty_common::probe::FIELD_COUNT] =
        Default::default();
    for entry in formats {
        let event = entry.tracepoint.name;
        if entry.format.name != event {
            return Err(ProbeError::Format {
                path: entry.path.clone(),
                problem: format!("describes event {:?}, expected {event:?}", entry.format.name),
            });
        }
        for &field in entry.tracepoint.fields {
            let offset = checked_offset(entry, field)?;
            let slot = field as usize;
            match first_seen[slot] {
                None => {
                    offsets.offsets[slot] = offset;
                    first_seen[slot] = Some(event);
                }
                Some(first_event) if offsets.offsets[slot] != offset => {
                    return Err(ProbeError::OffsetMismatch {
                        field: field.name(),
                        first_event,
                        first: offsets.offsets[slot],
                        second_event: event,
                        second: offset,
                    });
                }
                Some(_) => {}
            }
        }
    }
    Ok(offsets)
}

/// Returns the offset of `field` in one event, checked for presence, size and range.
fn checked_offset(entry: &TracepointFormat, field: Field) -> Result<u16, ProbeError> {
    let format_error = |problem: String| ProbeError::Format { path: entry.path.clone(), problem };
    let found = entry.format.field(field.name()).ok_or_else(|| {
        format_error(format!("event {} has no field `{}`", entry.tracepoint.name, field.name()))
    })?;
    if found.size != field.size() {
        return Err(format_error(format!(
            "field `{}` is {} bytes, the probes read {}",
            field.name(),
            found.size,
            field.size()
        )));
    }
    match u16::try_from(found.offset) {
        Ok(offset) if offset != FieldOffsets::MISSING => Ok(offset),
        _ => Err(format_error(format!(
            "field `{}` has offset {}, beyond 65534",
            field.name(),
            found.offset
        ))),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Computes the offsets of the fixtures.
    pub fn fixture_offsets() -> FieldOffsets {
        field_offsets(&fixture_formats()).expect("consistent fixtures")
    }

    /// `format` files as Linux prints them for the events of `vtty_trace.h`.
    const FIXTURES: [(&str, &str); 8] = [
        ("vtty_register", include_str!("testdata/format/vtty_register.format")),
        ("vtty_install", include_str!("testdata/format/vtty_install.format")),
        ("vtty_open", include_str!("testdata/format/vtty_open.format")),
        ("vtty_write", include_str!("testdata/format/vtty_write.format")),
        ("vtty_attach", include_str!("testdata/format/vtty_attach.format")),
        ("vtty_detach", include_str!("testdata/format/vtty_detach.format")),
        ("vtty_close", include_str!("testdata/format/vtty_close.format")),
        ("vtty_unregister", include_str!("testdata/format/vtty_unregister.format")),
    ];

    fn fixture_formats() -> Vec<TracepointFormat> {
        FIXTURES
            .iter()
            .map(|(name, text)| {
                let tracepoint =
                    *TRACEPOINTS.iter().find(|t| t.name == *name).expect("known tracepoint");
                let format = parse_format(text).expect("fixture parses");
                TracepointFormat {
                    tracepoint,
                    path: PathBuf::from(format!("{name}/format")),
                    format,
                }
            })
            .collect()
    }

    fn with_edited(name: &str, from: &str, to: &str) -> Vec<TracepointFormat> {
        let mut formats = fixture_formats();
        let entry =
            formats.iter_mut().find(|entry| entry.tracepoint.name == name).expect("fixture");
        let text = FIXTURES.iter().find(|(n, _)| *n == name).expect("fixture").1;
        assert!(text.contains(from), "fixture {name} lacks {from:?}");
        entry.format = parse_format(&text.replace(from, to)).expect("edited fixture parses");
        formats
    }

    #[test]
    fn write_format_parses_every_field() {
        let format = parse_format(FIXTURES[3].1).expect("parses");
        assert_eq!(format.name, "vtty_write");
        assert_eq!(format.id, 1908);
        let names: Vec<&str> = format.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "common_type",
                "common_flags",
                "common_preempt_count",
                "common_pid",
                "nsid",
                "index",
                "offered",
                "delivered",
                "dropped"
            ]
        );
        let nsid = format.field("nsid").expect("nsid");
        assert_eq!(
            (nsid.c_type.as_str(), nsid.offset, nsid.size, nsid.signed),
            ("u64", 8, 8, false)
        );
    }

    #[test]
    fn array_and_data_loc_names_lose_brackets() {
        let register = parse_format(FIXTURES[0].1).expect("parses");
        let name = register.field("name").expect("name");
        assert_eq!((name.c_type.as_str(), name.offset, name.size), ("char", 24, 64));
        let data_loc =
            parse_field("field:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;")
                .expect("parses");
        assert_eq!(data_loc.name, "filename");
        assert_eq!(data_loc.c_type, "__data_loc char[]");
    }

    #[test]
    fn signed_fields_are_marked() {
        let open = parse_format(FIXTURES[2].1).expect("parses");
        assert!(open.field("count").expect("count").signed);
        assert!(!open.field("index").expect("index").signed);
    }

    #[test]
    fn offsets_follow_the_header() {
        let offsets = field_offsets(&fixture_formats()).expect("consistent fixtures");
        let expected = [
            (Field::Nsid, 8),
            (Field::Index, 16),
            (Field::Count, 20),
            (Field::Offered, 20),
            (Field::Delivered, 24),
            (Field::Dropped, 28),
            (Field::InitPid, 20),
            (Field::Flags, 20),
            (Field::Reason, 20),
            (Field::Name, 24),
        ];
        for (field, offset) in expected {
            assert_eq!(offsets.get(field), Some(offset), "{field:?}");
        }
    }

    #[test]
    fn shared_field_at_two_offsets_is_rejected() {
        let formats = with_edited(
            "vtty_close",
            "field:s32 count;\toffset:20;",
            "field:s32 count;\toffset:24;",
        );
        let error = field_offsets(&formats).expect_err("count moved in vtty_close");
        let message = error.to_string();
        assert!(message.contains("field `count` is at offset 20 in vtty:vtty_open"), "{message}");
        assert!(message.contains("offset 24 in vtty:vtty_close"), "{message}");
        assert_eq!(error.exit_code(), crate::exit::ExitCode::DriverMissing);
    }

    #[test]
    fn nsid_moved_in_one_event_is_rejected() {
        let formats = with_edited(
            "vtty_install",
            "field:u64 nsid;\toffset:8;",
            "field:u64 nsid;\toffset:16;",
        );
        let error = field_offsets(&formats).expect_err("nsid moved");
        assert!(error.to_string().contains("field `nsid`"), "{error}");
    }

    #[test]
    fn wrong_size_is_rejected() {
        let formats = with_edited(
            "vtty_write",
            "field:u32 dropped;\toffset:28;\tsize:4;",
            "field:u64 dropped;\toffset:28;\tsize:8;",
        );
        let message = field_offsets(&formats).expect_err("dropped widened").to_string();
        assert!(message.contains("field `dropped` is 8 bytes, the probes read 4"), "{message}");
        assert!(message.starts_with("vtty_write/format"), "{message}");
    }

    #[test]
    fn missing_field_is_rejected() {
        let formats = with_edited("vtty_attach", "u32 flags;", "u32 mode;");
        let message = field_offsets(&formats).expect_err("flags renamed").to_string();
        assert!(message.contains("event vtty_attach has no field `flags`"), "{message}");
    }

    #[test]
    fn format_of_another_event_is_rejected() {
        let formats = with_edited("vtty_open", "name: vtty_open", "name: vtty_opened");
        let message = field_offsets(&formats).expect_err("wrong name").to_string();
        assert!(message.contains("describes event \"vtty_opened\""), "{message}");
    }

    #[test]
    fn malformed_lines_name_their_number() {
        let broken = FIXTURES[4].1.replace("offset:20;", "offset:twenty;");
        let problem = parse_format(&broken).expect_err("bad offset");
        assert!(problem.starts_with("line 11:"), "{problem}");
        assert!(problem.contains("\"twenty\""), "{problem}");
        assert_eq!(parse_format("ID: 3\n").expect_err("no name"), "no `name:` line");
        assert_eq!(
            parse_format("name: x\nID: 3\nformat:\n").expect_err("no fields"),
            "no `field:` lines"
        );
    }

    #[test]
    fn host_format_files_parse() {
        // Every format file of the running kernel parses, when tracefs is mounted
        // (at VTTY_TEST_TRACEFS if set).
        let tracefs = std::env::var_os("VTTY_TEST_TRACEFS")
            .map_or_else(|| PathBuf::from(super::super::environment::TRACEFS), PathBuf::from);
        let root = tracefs.join("events");
        let Ok(systems) = std::fs::read_dir(&root) else {
            eprintln!("skipped: {} is not readable (tracefs not mounted)", root.display());
            return;
        };
        let mut parsed = 0;
        for system in systems.flatten().filter(|entry| entry.path().is_dir()) {
            for event in std::fs::read_dir(system.path()).into_iter().flatten().flatten() {
                let path = event.path().join("format");
                if let Ok(text) = std::fs::read_to_string(&path) {
                    parse_format(&text)
                        .unwrap_or_else(|problem| panic!("{}: {problem}", path.display()));
                    parsed += 1;
                }
            }
        }
        eprintln!("parsed {parsed} format files");
    }
}
