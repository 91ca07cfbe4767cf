//! Errors of the settings that never quote a value (it may be a secret).

/// A deserialization error without the value it quotes (`invalid type:
/// integer `1234...`` may be the identity key or a password); key names and
/// the expected type stay.
pub(super) fn without_values(msg: &str) -> String {
    msg.lines()
        .map(|line| {
            let Some(rest) = line.strip_prefix("invalid type: ").or_else(|| line.strip_prefix("invalid value: "))
            else {
                return line.to_string();
            };
            let head = &line[..line.len() - rest.len()];
            let (what, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
            let kind = what.split([' ', '`', '"']).next().unwrap_or("");
            let quoted = what.contains('`') || what.contains('"');
            let shown = if quoted { format!("{kind} <value>") } else { what.to_string() };
            if expected.is_empty() {
                format!("{head}{shown}")
            } else {
                format!("{head}{shown}, expected{expected}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
