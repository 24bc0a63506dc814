//! A reader for the subset of UBJSON (Universal Binary JSON, draft 12) that XGBoost writes with
//! `save_model("model.ubj")`: the same document as its JSON format, with big-endian numbers
//! and optimized containers (`[$d#L<n>` typed arrays of floats, `[$U#L<n>` byte arrays).
//!
//! The bytes are untrusted: every count is checked against the bytes left before anything is
//! allocated, nesting is capped, and non-finite numbers are refused (a JSON value cannot hold
//! them, and no valid model needs them).

use serde_json::{Map, Number, Value};

use crate::error::{ModelError, Result};

/// Deepest nesting accepted; XGBoost's documents are about 8 levels deep.
const MAX_DEPTH: usize = 64;

/// Decodes one UBJSON value (the whole input) into a JSON value.
pub(crate) fn to_value(bytes: &[u8]) -> Result<Value> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.value(0)?;
    if reader.at != bytes.len() {
        return Err(invalid(format!("{} bytes after the document", bytes.len() - reader.at)));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| invalid(format!("truncated at byte {}", self.at)))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        let marker = self.byte()?;
        self.value_of(marker, depth)
    }

    fn value_of(&mut self, marker: u8, depth: usize) -> Result<Value> {
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::Number(self.integer(marker)?.into()),
            b'd' => float(f64::from(f32::from_be_bytes(self.array()?)))?,
            b'D' => float(f64::from_be_bytes(self.array()?))?,
            b'C' => Value::String(char::from(self.byte()?).to_string()),
            b'S' => Value::String(self.string()?),
            b'H' => {
                let text = self.string()?;
                let number: f64 = text
                    .parse()
                    .map_err(|_| invalid(format!("high-precision number `{text}`")))?;
                float(number)?
            }
            b'[' => self.array_value(depth + 1)?,
            b'{' => self.object(depth + 1)?,
            other => return Err(invalid(format!("unknown marker 0x{other:02x} at byte {}", self.at - 1))),
        })
    }

    fn integer(&mut self, marker: u8) -> Result<i64> {
        Ok(match marker {
            b'i' => i64::from(i8::from_be_bytes(self.array()?)),
            b'U' => i64::from(self.byte()?),
            b'I' => i64::from(i16::from_be_bytes(self.array()?)),
            b'l' => i64::from(i32::from_be_bytes(self.array()?)),
            b'L' => i64::from_be_bytes(self.array()?),
            other => return Err(invalid(format!("0x{other:02x} is not an integer marker"))),
        })
    }

    /// A length: an integer that must be non-negative and no larger than the bytes left divided
    /// by the least each element takes, so that hostile counts never drive an allocation.
    fn length(&mut self, min_element_bytes: usize) -> Result<usize> {
        let marker = self.byte()?;
        let n = self.integer(marker)?;
        let left = self.bytes.len() - self.at;
        usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(min_element_bytes.max(1)) <= left)
            .ok_or_else(|| invalid(format!("length {n} at byte {} exceeds the data", self.at)))
    }

    fn string(&mut self) -> Result<String> {
        let n = self.length(1)?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| invalid("a string is not UTF-8".into()))
    }

    /// The optional `$type` and `#count` of an optimized container.
    fn container_header(&mut self) -> Result<(Option<u8>, Option<usize>)> {
        let element_type = if self.peek() == Some(b'$') {
            self.at += 1;
            Some(self.byte()?)
        } else {
            None
        };
        let count = if self.peek() == Some(b'#') {
            self.at += 1;
            Some(self.length(element_type.map_or(1, payload_bytes))?)
        } else if element_type.is_some() {
            return Err(invalid("a typed container without a count".into()));
        } else {
            None
        };
        Ok((element_type, count))
    }

    fn element(&mut self, element_type: Option<u8>, depth: usize) -> Result<Value> {
        match element_type {
            Some(marker) => self.value_of(marker, depth),
            None => self.value(depth),
        }
    }

    fn array_value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(ModelError::Unsupported(format!("nesting deeper than {MAX_DEPTH}")));
        }
        let (element_type, count) = self.container_header()?;
        let mut items = Vec::with_capacity(count.unwrap_or(0));
        match count {
            Some(n) => {
                for _ in 0..n {
                    items.push(self.element(element_type, depth)?);
                }
            }
            None => loop {
                if self.peek() == Some(b']') {
                    self.at += 1;
                    break;
                }
                items.push(self.value(depth)?);
            },
        }
        Ok(Value::Array(items))
    }

    fn object(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(ModelError::Unsupported(format!("nesting deeper than {MAX_DEPTH}")));
        }
        let (element_type, count) = self.container_header()?;
        let mut map = Map::new();
        match count {
            Some(n) => {
                for _ in 0..n {
                    let key = self.string()?;
                    map.insert(key, self.element(element_type, depth)?);
                }
            }
            None => loop {
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    break;
                }
                let key = self.string()?;
                map.insert(key, self.value(depth)?);
            },
        }
        Ok(Value::Object(map))
    }
}

/// The fewest bytes one element of a typed container takes (a lower bound for nested types).
fn payload_bytes(marker: u8) -> usize {
    match marker {
        b'I' => 2,
        b'l' | b'd' => 4,
        b'L' | b'D' => 8,
        b'Z' | b'T' | b'F' => 0,
        _ => 1,
    }
}

fn float(x: f64) -> Result<Value> {
    Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| invalid(format!("non-finite number {x}")))
}

fn invalid(message: String) -> ModelError {
    ModelError::InvalidModel(format!("not UBJSON: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_scalars_strings_and_optimized_containers() {
        let mut doc = b"{".to_vec();
        doc.extend(b"U\x01a[$d#U\x02");
        doc.extend(1.5f32.to_be_bytes());
        doc.extend((-2.0f32).to_be_bytes());
        doc.extend(b"U\x01b[$U#i\x03\x00\x01\x02");
        doc.extend(b"U\x01cSU\x03xyz");
        doc.extend(b"U\x01d[TFZL\x00\x00\x00\x00\x00\x00\x01\x00]");
        doc.extend(b"U\x01eD");
        doc.extend(0.25f64.to_be_bytes());
        doc.push(b'}');
        assert_eq!(
            to_value(&doc).unwrap(),
            json!({"a": [1.5, -2.0], "b": [0, 1, 2], "c": "xyz", "d": [true, false, null, 256], "e": 0.25})
        );
    }

    #[test]
    fn refuses_hostile_bytes() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "truncated"),
            (b"[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff", "exceeds the data"),
            (b"[$d#i\xff", "exceeds the data"),
            (b"[$d]", "without a count"),
            (b"SU\x02\xff\xfe", "UTF-8"),
            (b"d\x7f\xc0\x00\x00", "non-finite"),
            (b"Zx", "after the document"),
            (b"q", "unknown marker"),
            (b"[[[[", "truncated"),
        ];
        for (bytes, needle) in cases {
            let error = to_value(bytes).unwrap_err().to_string();
            assert!(error.contains(needle), "expected `{needle}` in `{error}`");
        }
        let deep = vec![b'['; 10_000];
        assert!(to_value(&deep).unwrap_err().to_string().contains("nesting"));
    }
}
