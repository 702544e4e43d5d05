//! The tools' input and output schemas as standard JSON Schema. schemars marks Rust's number types with
//! formats JSON Schema does not define (`uint`, `uint64`, `int32`, `double`...), which Ajv-based clients
//! (the MCP Inspector, the TypeScript SDK) log as unknown formats; the bounds they stand for are already
//! there as `minimum` and `maximum`, so the formats are dropped (an unsigned one leaves `minimum: 0`).

use rmcp::handler::server::router::tool::ToolRouter;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The formats schemars gives Rust's integer and float types.
const NUMBER_FORMATS: &[&str] = &[
    "uint", "uint8", "uint16", "uint32", "uint64", "uint128", "int", "int8", "int16", "int32", "int64", "int128",
    "float", "double",
];

/// Makes every schema of `router`'s tools standard.
pub(super) fn standardize<S>(mut router: ToolRouter<S>) -> ToolRouter<S> {
    for route in router.map.values_mut() {
        let tool = &mut route.attr;
        tool.input_schema = Arc::new(standard(tool.input_schema.as_ref().clone()));
        tool.output_schema = tool.output_schema.as_ref().map(|schema| Arc::new(standard(schema.as_ref().clone())));
    }
    router
}

/// `schema` without the number formats, an unsigned one replaced by `minimum: 0` where no minimum is given.
fn standard(mut schema: Map<String, Value>) -> Map<String, Value> {
    strip(&mut schema);
    schema
}

fn strip(schema: &mut Map<String, Value>) {
    // Only a string `format` is a keyword: a property called `format` holds a schema (an object).
    if let Some(Value::String(format)) = schema.get("format")
        && NUMBER_FORMATS.contains(&format.as_str())
    {
        let unsigned = format.starts_with("uint");
        schema.remove("format");
        if unsigned {
            schema.entry("minimum").or_insert(json!(0));
        }
    }
    for value in schema.values_mut() {
        walk(value);
    }
}

fn walk(value: &mut Value) {
    match value {
        Value::Object(schema) => strip(schema),
        Value::Array(items) => items.iter_mut().for_each(walk),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats_give_way_to_bounds_and_properties_named_format_stay() {
        let schema = json!({
            "type": "object",
            "properties": {
                "limit": {"type": ["integer", "null"], "format": "uint", "minimum": 0},
                "seq": {"type": "integer", "format": "uint64"},
                "score": {"type": "number", "format": "double"},
                "at": {"type": "string", "format": "date-time"},
                "format": {"type": "string", "enum": ["jsonl"]},
            },
            "$defs": {"Page": {"anyOf": [{"type": "integer", "format": "int32"}]}},
        });
        let Value::Object(schema) = schema else { unreachable!() };
        let standard = Value::Object(standard(schema));
        assert_eq!(
            standard,
            json!({
                "type": "object",
                "properties": {
                    "limit": {"type": ["integer", "null"], "minimum": 0},
                    "seq": {"type": "integer", "minimum": 0},
                    "score": {"type": "number"},
                    "at": {"type": "string", "format": "date-time"},
                    "format": {"type": "string", "enum": ["jsonl"]},
                },
                "$defs": {"Page": {"anyOf": [{"type": "integer"}]}},
            })
        );
    }
}
