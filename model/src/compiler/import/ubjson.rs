//! A reader for the subset of UBJSON (Universal Binary JSON, draft 12) that XGBoost writes with
//! `save_model("model.ubj")`: the same document as its JSON format, with big-endian numbers
//! and optimized containers (`[$d#L<n>` typed arrays of floats, `[$U#L<n>` byte arrays).
//!
//! It is a serde deserializer, so the importer reads UBJSON into the same typed document as
//! JSON ([`crate::compiler::import::xgboost`]): what the importer does not read is skipped, never built, and what
//! it reads takes no more memory than its typed fields.
//!
//! The bytes are untrusted:
//!
//! - every count is checked against the bytes left before anything is allocated (an element
//!   takes at least its payload's bytes);
//! - the counts of all containers together may not pass the file's size: an element of a
//!   typed container of `Z`, `T` or `F` (null, true, false) takes no bytes at all, so without
//!   this budget a 16 MiB file could declare arrays of billions of elements, nested or side by
//!   side. No file without such elements comes near it (each of its elements takes a byte);
//! - nesting is capped at [`MAX_DEPTH`];
//! - non-finite numbers are refused (a JSON value cannot hold them, and no valid model needs
//!   them).

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Visitor};

use crate::error::{ModelError, Result};

/// Deepest nesting accepted; XGBoost's documents are about 8 levels deep.
const MAX_DEPTH: usize = 64;

/// Decodes one UBJSON value (the whole input) into `T`.
pub(crate) fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    let mut reader = Reader {
        bytes,
        at: 0,
        depth: 0,
        element: None,
        budget: bytes.len(),
    };
    let value = T::deserialize(&mut reader).map_err(|e| e.into_model_error(reader.at))?;
    if reader.at != bytes.len() {
        return Err(ModelError::InvalidModel(format!(
            "not UBJSON: {} bytes after the document",
            bytes.len() - reader.at
        )));
    }
    Ok(value)
}

/// A reading error: the bytes are not UBJSON, a limit is passed, or (from serde) the document
/// is not what the importer expects.
#[derive(Debug)]
pub(crate) enum Error {
    Model(ModelError),
    Document(String),
}

impl Error {
    fn into_model_error(self, at: usize) -> ModelError {
        match self {
            Error::Model(error) => error,
            Error::Document(message) => ModelError::InvalidModel(format!("{message} (at byte {at})")),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Model(error) => error.fmt(f),
            Error::Document(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Error::Document(message.to_string())
    }
}

impl From<ModelError> for Error {
    fn from(error: ModelError) -> Self {
        Error::Model(error)
    }
}

type ReadResult<T> = std::result::Result<T, Error>;

struct Reader<'de> {
    bytes: &'de [u8],
    at: usize,
    depth: usize,
    /// The type marker of the typed container whose element is read next: its elements carry
    /// no marker of their own.
    element: Option<u8>,
    /// How many more elements containers may declare (see the module documentation).
    budget: usize,
}

impl<'de> Reader<'de> {
    fn take(&mut self, n: usize) -> ReadResult<&'de [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| invalid(format!("truncated at byte {}", self.at)))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> ReadResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn array<const N: usize>(&mut self) -> ReadResult<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    /// The marker of the next value: its container's element type, or its own first byte.
    fn marker(&mut self) -> ReadResult<u8> {
        match self.element.take() {
            Some(marker) => Ok(marker),
            None => self.byte(),
        }
    }

    fn integer(&mut self, marker: u8) -> ReadResult<i64> {
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
    fn length(&mut self, min_element_bytes: usize) -> ReadResult<usize> {
        let marker = self.byte()?;
        let n = self.integer(marker)?;
        let left = self.bytes.len() - self.at;
        usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(min_element_bytes.max(1)) <= left)
            .ok_or_else(|| invalid(format!("length {n} at byte {} exceeds the data", self.at)))
    }

    fn string(&mut self) -> ReadResult<&'de str> {
        let n = self.length(1)?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|_| invalid("a string is not UTF-8".into()))
    }

    /// The optional `$type` and `#count` of an optimized container; the count is spent from
    /// the budget.
    fn container_header(&mut self) -> ReadResult<(Option<u8>, Option<usize>)> {
        let element_type = if self.peek() == Some(b'$') {
            self.at += 1;
            Some(self.byte()?)
        } else {
            None
        };
        let count = if self.peek() == Some(b'#') {
            self.at += 1;
            let n = self.length(element_type.map_or(1, payload_bytes))?;
            self.budget = self.budget.checked_sub(n).ok_or_else(|| {
                ModelError::InvalidModel(format!(
                    "the file declares more than {limit} elements (limit {limit}, one per byte of the file)",
                    limit = self.bytes.len()
                ))
            })?;
            Some(n)
        } else if element_type.is_some() {
            return Err(invalid("a typed container without a count".into()));
        } else {
            None
        };
        Ok((element_type, count))
    }

    fn enter(&mut self) -> ReadResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ModelError::Unsupported(format!("nesting deeper than {MAX_DEPTH}")).into());
        }
        Ok(())
    }

    /// Reads an array or object (its marker read) with `visit`, then checks that the visitor
    /// read every element.
    fn container<V: Visitor<'de>>(&mut self, visitor: V, object: bool) -> ReadResult<V::Value> {
        self.enter()?;
        let (element, count) = self.container_header()?;
        let mut elements = Elements {
            reader: &mut *self,
            element,
            left: count,
            end: if object { b'}' } else { b']' },
        };
        let value = if object {
            visitor.visit_map(&mut elements)?
        } else {
            visitor.visit_seq(&mut elements)?
        };
        let (left, end) = (elements.left, elements.end);
        let finished = match left {
            Some(left) => left == 0,
            None => {
                let ended = self.peek() == Some(end);
                self.at += usize::from(ended);
                ended
            }
        };
        if !finished {
            return Err(de::Error::custom("a container holds more elements than expected"));
        }
        self.depth -= 1;
        Ok(value)
    }

    /// Skips one value (its marker not yet read), reading as little of it as its type allows.
    fn skip(&mut self) -> ReadResult<()> {
        match self.marker()? {
            marker @ (b'[' | b'{') => {
                self.enter()?;
                let (element, count) = self.container_header()?;
                let end = if marker == b'{' { b'}' } else { b']' };
                match (element, count) {
                    (Some(element), Some(n)) if marker == b'[' && fixed_payload(element) => {
                        self.take(n * payload_bytes(element))?;
                    }
                    (_, Some(n)) => {
                        for _ in 0..n {
                            if marker == b'{' {
                                self.string()?;
                            }
                            self.element = element;
                            self.skip()?;
                        }
                    }
                    (_, None) => loop {
                        if self.peek() == Some(end) {
                            self.at += 1;
                            break;
                        }
                        if marker == b'{' {
                            self.string()?;
                        }
                        self.skip()?;
                    },
                }
                self.depth -= 1;
            }
            b'S' | b'H' => {
                let n = self.length(1)?;
                self.take(n)?;
            }
            marker if fixed_payload(marker) => {
                self.take(payload_bytes(marker))?;
            }
            other => return Err(unknown_marker(other, self.at - 1)),
        }
        Ok(())
    }
}

/// The elements of one array (or the entries of one object) for a serde visitor.
struct Elements<'r, 'de> {
    reader: &'r mut Reader<'de>,
    element: Option<u8>,
    /// Elements left, for a container with a count.
    left: Option<usize>,
    end: u8,
}

impl Elements<'_, '_> {
    /// Whether another element follows; counts it.
    fn next(&mut self) -> bool {
        match &mut self.left {
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                true
            }
            None => self.reader.peek() != Some(self.end),
        }
    }

    /// The number of elements, when each takes at least a byte (so that a visitor may allocate
    /// room for them all).
    fn size_hint(&self) -> Option<usize> {
        match self.element {
            Some(marker) if payload_bytes(marker) == 0 => None,
            _ => self.left,
        }
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> ReadResult<Option<T::Value>> {
        if !self.next() {
            return Ok(None);
        }
        self.reader.element = self.element;
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Elements::size_hint(self)
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> ReadResult<Option<K::Value>> {
        if !self.next() {
            return Ok(None);
        }
        let key = self.reader.string()?;
        seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> ReadResult<V::Value> {
        self.reader.element = self.element;
        seed.deserialize(&mut *self.reader)
    }

    fn size_hint(&self) -> Option<usize> {
        Elements::size_hint(self)
    }
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> ReadResult<V::Value> {
        let marker = self.marker()?;
        match marker {
            b'Z' => visitor.visit_unit(),
            b'T' => visitor.visit_bool(true),
            b'F' => visitor.visit_bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => visitor.visit_i64(self.integer(marker)?),
            b'd' => visitor.visit_f64(finite(f64::from(f32::from_be_bytes(self.array()?)))?),
            b'D' => visitor.visit_f64(finite(f64::from_be_bytes(self.array()?))?),
            b'C' => visitor.visit_char(char::from(self.byte()?)),
            b'S' => visitor.visit_borrowed_str(self.string()?),
            b'H' => {
                let text = self.string()?;
                let number: f64 = text
                    .parse()
                    .map_err(|_| invalid(format!("high-precision number `{text}`")))?;
                visitor.visit_f64(finite(number)?)
            }
            b'[' => self.container(visitor, false),
            b'{' => self.container(visitor, true),
            other => Err(unknown_marker(other, self.at - 1)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> ReadResult<V::Value> {
        let next = self.element.or_else(|| self.peek());
        if next == Some(b'Z') {
            self.marker()?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> ReadResult<V::Value> {
        self.skip()?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> ReadResult<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct enum identifier
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

/// Whether a value of this type is exactly [`payload_bytes`] long after its marker.
fn fixed_payload(marker: u8) -> bool {
    matches!(
        marker,
        b'Z' | b'T' | b'F' | b'i' | b'U' | b'I' | b'l' | b'L' | b'd' | b'D' | b'C'
    )
}

fn finite(x: f64) -> ReadResult<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(invalid(format!("non-finite number {x}")))
    }
}

fn unknown_marker(marker: u8, at: usize) -> Error {
    invalid(format!("unknown marker 0x{marker:02x} at byte {at}"))
}

fn invalid(message: String) -> Error {
    Error::Model(ModelError::InvalidModel(format!("not UBJSON: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn to_value(bytes: &[u8]) -> Result<Value> {
        from_slice(bytes)
    }

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
        doc.extend(b"U\x01f{$i#U\x02U\x01x\x05U\x01y\xff");
        doc.push(b'}');
        assert_eq!(
            to_value(&doc).unwrap(),
            json!({"a": [1.5, -2.0], "b": [0, 1, 2], "c": "xyz", "d": [true, false, null, 256], "e": 0.25,
                   "f": {"x": 5, "y": -1}})
        );
    }

    #[test]
    fn skips_what_the_reader_does_not_read() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Kept {
            b: Option<i32>,
        }
        let mut doc = b"{U\x01a[$d#U\x02".to_vec();
        doc.extend([0; 8]);
        doc.extend(b"U\x01c[{U\x01x[$Z#U\x05}SU\x01q{#U\x01U\x01yHU\x031.5]");
        doc.extend(b"U\x01bU\x07U\x01z[$[#U\x02#U\x01Z]}");
        assert_eq!(from_slice::<Kept>(&doc).unwrap(), Kept { b: Some(7) });
        assert_eq!(from_slice::<Kept>(b"{U\x01bZ}").unwrap(), Kept { b: None });
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
            // Two arrays of null elements, each within the bytes left, together beyond them.
            (
                b"[[$Z#U\x14[$Z#U\x0eSU\x0axxxxxxxxxx]",
                "more than 27 elements (limit 27",
            ),
            (
                b"{U\x01a[$[#U\x02$T#U\x16$F#U\x11U\x01bSU\x0axxxxxxxxxx}",
                "more than 37 elements (limit 37",
            ),
        ];
        for (bytes, needle) in cases {
            let error = to_value(bytes).unwrap_err().to_string();
            assert!(error.contains(needle), "expected `{needle}` in `{error}`");
        }
        let deep = vec![b'['; 10_000];
        assert!(to_value(&deep).unwrap_err().to_string().contains("nesting"));
    }
}
