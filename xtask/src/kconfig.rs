//! Kconfig fragments: parsing the checked-in fragment and checking that each of its
//! lines survived `make olddefconfig`.

use std::collections::HashMap;

use anyhow::{Result, bail};

/// One setting of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub struct Setting {
    /// The 1-based line number in the fragment.
    pub line: usize,
    /// The symbol with its `CONFIG_` prefix.
    pub symbol: String,
    /// The value as written (`y`, `m`, a number or a quoted string), or `None` for
    /// `# CONFIG_X is not set`.
    pub value: Option<String>,
}

/// Parses a fragment; blank lines and comments are skipped, anything else that is
/// not `CONFIG_X=value` or `# CONFIG_X is not set` is an error naming the line.
pub fn parse_fragment(text: &str, name: &str) -> Result<Vec<Setting>> {
    let mut settings = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let number = index + 1;
        if let Some(symbol) = parse_not_set(line) {
            settings.push(Setting {
                line: number,
                symbol: symbol.to_owned(),
                value: None,
            });
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((symbol, value)) = line.split_once('=') else {
            bail!(
                "{name}:{number}: `{line}` is not a Kconfig setting; write CONFIG_NAME=value or `# CONFIG_NAME is not set`"
            );
        };
        if !is_symbol(symbol) || value.is_empty() {
            bail!(
                "{name}:{number}: `{line}` is not a Kconfig setting; write CONFIG_NAME=value or `# CONFIG_NAME is not set`"
            );
        }
        settings.push(Setting {
            line: number,
            symbol: symbol.to_owned(),
            value: Some(value.to_owned()),
        });
    }
    Ok(settings)
}

fn is_symbol(symbol: &str) -> bool {
    symbol.strip_prefix("CONFIG_").is_some_and(|name| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn parse_not_set(line: &str) -> Option<&str> {
    let symbol = line.strip_prefix("# ")?.strip_suffix(" is not set")?;
    is_symbol(symbol).then_some(symbol)
}

/// Reads a full `.config` into symbol → value; symbols that are not set are absent.
pub fn parse_config(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .filter(|(symbol, _)| is_symbol(symbol))
        .map(|(symbol, value)| (symbol.to_owned(), value.to_owned()))
        .collect()
}

/// Describes every fragment line that the resolved configuration contradicts, one
/// message per line.
pub fn unmet(settings: &[Setting], config: &HashMap<String, String>, name: &str) -> Vec<String> {
    settings
        .iter()
        .filter_map(|setting| {
            let actual = config.get(&setting.symbol);
            match (&setting.value, actual) {
                (Some(wanted), Some(actual)) if wanted == actual => None,
                (None, None) => None,
                (Some(wanted), actual) => Some(format!(
                    "{name}:{}: {}={wanted} became {}",
                    setting.line,
                    setting.symbol,
                    actual.map_or("not set".to_owned(), |value| format!(
                        "{}={value}",
                        setting.symbol
                    ))
                )),
                (None, Some(actual)) => Some(format!(
                    "{name}:{}: {} should not be set but is {actual}",
                    setting.line, setting.symbol
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_settings_and_comments() {
        let text = "# comment\n\nCONFIG_RUST=y\n# CONFIG_KASAN is not set\nCONFIG_NR_CPUS=2\n";
        let settings = parse_fragment(text, "frag").unwrap();
        assert_eq!(settings.len(), 3);
        assert_eq!(settings[0].symbol, "CONFIG_RUST");
        assert_eq!(settings[0].value.as_deref(), Some("y"));
        assert_eq!(settings[0].line, 3);
        assert_eq!(settings[1].symbol, "CONFIG_KASAN");
        assert_eq!(settings[1].value, None);
    }

    #[test]
    fn fragment_rejects_garbage() {
        let error = parse_fragment("CONFIG_RUST=y\nRUST=y\n", "frag").unwrap_err();
        assert!(error.to_string().contains("frag:2"), "{error}");
    }

    #[test]
    fn fragment_rejects_empty_value() {
        assert!(parse_fragment("CONFIG_RUST=\n", "frag").is_err());
    }

    #[test]
    fn unmet_names_dropped_and_changed_lines() {
        let settings = parse_fragment(
            "CONFIG_RUST=y\nCONFIG_VT=y\nCONFIG_SAMPLE=m\n# CONFIG_KASAN is not set\n",
            "frag",
        )
        .unwrap();
        let config = parse_config(
            "CONFIG_RUST=y\n# CONFIG_VT is not set\nCONFIG_SAMPLE=y\nCONFIG_KASAN=y\n",
        );
        let problems = unmet(&settings, &config, "frag");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[0], "frag:2: CONFIG_VT=y became not set");
        assert_eq!(
            problems[1],
            "frag:3: CONFIG_SAMPLE=m became CONFIG_SAMPLE=y"
        );
        assert_eq!(
            problems[2],
            "frag:4: CONFIG_KASAN should not be set but is y"
        );
    }

    #[test]
    fn unmet_empty_when_all_survive() {
        let settings = parse_fragment("CONFIG_RUST=y\n", "frag").unwrap();
        let config = parse_config("CONFIG_RUST=y\n");
        assert!(unmet(&settings, &config, "frag").is_empty());
    }
}
