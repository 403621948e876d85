//! The canonical encoding of an entry: JSON with object keys sorted at every level, no whitespace.
//! Written by hand rather than relying on serde_json's map ordering, which a feature flag elsewhere
//! in the dependency tree (`preserve_order`) could silently change.

use serde_json::Value;

pub fn to_bytes(v: &Value) -> Vec<u8> {
    let mut out = String::new();
    write(v, &mut out);
    out.into_bytes()
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(k) {
                    write(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level_and_strings_escaped() {
        let v = serde_json::json!({"b": 1, "a": {"z": [true, null], "y": "q\"x\n"}});
        assert_eq!(String::from_utf8_lossy(&to_bytes(&v)), r#"{"a":{"y":"q\"x\n","z":[true,null]},"b":1}"#);
    }
}
