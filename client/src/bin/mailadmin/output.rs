//! What a command prints: a table for people (money with its currency,
//! times in local time), or the proto's own JSON mapping for programs
//! (`--output json`: one document, lists as arrays; `--output jsonl`: one
//! object per line), the same field names grpcurl shows.

use crate::fail::Fail;
use mailadmin_client::pb;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// One JSON document (a list is an array).
    Json,
    /// One JSON object per line.
    Jsonl,
}

/// A message the CLI prints: its proto name (for JSON) and its table row.
pub trait Shown: prost::Message + Sized {
    /// The full proto name, e.g. `mailadmin.v1.User`.
    const PROTO: &'static str;
    /// The table's column headers.
    fn headers() -> &'static [&'static str];
    /// One table row, as many cells as headers.
    fn row(&self) -> Vec<String>;
}

/// Prints `items` in `format`.
pub fn list<T: Shown>(format: Format, items: &[T]) -> Result<(), Fail> {
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = items.iter().map(Shown::row).collect();
            print!("{}", table(T::headers(), &rows));
        }
        Format::Json => {
            let values = items.iter().map(json).collect::<Result<Vec<_>, _>>()?;
            println!("{}", pretty(&serde_json::Value::Array(values)));
        }
        Format::Jsonl => {
            for item in items {
                println!("{}", json(item)?);
            }
        }
    }
    Ok(())
}

/// Prints one item: a table of one row, or one JSON object.
pub fn one<T: Shown>(format: Format, item: &T) -> Result<(), Fail> {
    match format {
        Format::Table => list(format, std::slice::from_ref(item)),
        Format::Json => {
            println!("{}", pretty(&json(item)?));
            Ok(())
        }
        Format::Jsonl => {
            println!("{}", json(item)?);
            Ok(())
        }
    }
}

/// Prints a message that is not a resource (an answer): as JSON in the
/// JSON formats, else as `key: value` lines of its JSON.
pub fn answer<T: prost::Message>(format: Format, proto: &str, message: &T) -> Result<(), Fail> {
    let value = json_of(proto, message)?;
    match format {
        Format::Json => println!("{}", pretty(&value)),
        Format::Jsonl => println!("{value}"),
        Format::Table => {
            if let serde_json::Value::Object(fields) = &value {
                let width = fields.keys().map(String::len).max().unwrap_or(0);
                for (key, field) in fields {
                    println!("{key:width$}  {}", cell(field));
                }
            }
        }
    }
    Ok(())
}

/// A JSON value as a table shows it: money as `12.50 EUR`, times in local
/// time, objects as compact JSON.
fn cell(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(text) => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(at) => at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S %:z")
                .to_string(),
            Err(_) => text.clone(),
        },
        Value::Object(fields) if fields.len() == 2 => {
            match (fields.get("amount"), fields.get("currency")) {
                (Some(Value::String(amount)), Some(Value::String(currency))) => {
                    format!("{amount} {currency}")
                }
                _ => value.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// `item` in the proto3 JSON mapping, default values included.
pub fn json<T: Shown>(item: &T) -> Result<serde_json::Value, Fail> {
    json_of(T::PROTO, item)
}

fn json_of<T: prost::Message>(proto: &str, message: &T) -> Result<serde_json::Value, Fail> {
    let descriptor = pool()
        .get_message_by_name(proto)
        .ok_or_else(|| Fail::Local(format!("no message {proto} in the descriptors")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| Fail::Local(format!("re-reading {proto}: {e}")))?;
    let options = SerializeOptions::new().skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| Fail::Local(format!("{proto} as JSON: {e}")))
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).expect("the built-in descriptor set")
    })
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialize")
}

/// Left-aligned columns separated by two spaces; no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `12.50 EUR`.
pub fn money(money: &Option<pb::Money>) -> String {
    match money {
        Some(m) => format!("{} {}", m.amount, m.currency),
        None => String::new(),
    }
}

/// A time in the local time zone, to the second; empty when unset.
pub fn time(at: &Option<prost_types::Timestamp>) -> String {
    let Some(at) = at else {
        return String::new();
    };
    match chrono::DateTime::from_timestamp(at.seconds, at.nanos.max(0) as u32) {
        Some(utc) => utc
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
        None => String::new(),
    }
}

/// An enum value's name without its type prefix, lower case: `ACCOUNT_STATE_ENABLED` → `enabled`.
pub fn enum_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_without_trailing_spaces() {
        let text = table(
            &["ID", "NAME", "STATE"],
            &[
                vec!["1".into(), "alice".into(), "enabled".into()],
                vec!["22".into(), "bob".into(), String::new()],
            ],
        );
        assert_eq!(text, "ID  NAME   STATE\n1   alice  enabled\n22  bob\n");
    }

    #[test]
    fn json_uses_the_proto_names_and_keeps_defaults() {
        let user = pb::User {
            id: 7,
            username: "alice".into(),
            ..Default::default()
        };
        let value = json_of("mailadmin.v1.User", &user).unwrap();
        assert_eq!(value["id"], "7", "int64 is a string in the proto3 mapping");
        assert_eq!(value["username"], "alice");
        assert!(value.get("primaryAddress").is_some(), "{value}");
    }
}
