//! A pre-scan of an ONNX file's protobuf wire format that bounds what decoding it takes in
//! memory, before the decoder allocates anything.
//!
//! Protobuf is compact where memory is not: an empty message takes 2 bytes on the wire (its
//! tag and a zero length) and its whole struct once decoded, an element of a packed `int64`
//! list takes 1 byte and 8 once decoded, and a list grows by doubling its capacity. A 16 MiB
//! file of empty attributes decodes to gigabytes.
//!
//! The scan walks the fields of [`super::proto`]'s messages (the part of ONNX's schema the
//! importer reads: the decoder skips every other field without keeping it) and adds up what
//! decoding allocates, as the decoder does it: each list's capacity (the power of two, at least
//! 4, that a growing `Vec` reaches for its length) times its element's size, each string's
//! bytes (at least 8, as a `Vec` allocates), for every message recursively, and the longest
//! `bytes` field once more (the decoder copies each on the way, one at a time). [`check`]
//! refuses a file whose total passes [`DECODED_BYTES_PER_BYTE`] times its size, plus
//! [`DECODED_BYTES_SLACK`] for small files.
//!
//! A field that occurs once in the schema but twice on the wire is merged by the decoder (its
//! lists add up, which the scan would not see), so the scan refuses it when it is a message; so
//! are protobuf groups (ONNX has none). The schema is not recursive, so neither is the scan
//! beyond its few levels.

use super::proto;
use crate::error::{ModelError, Result};

/// Most bytes decoding may take per byte of the file. The ONNX tools write a list's numbers one
/// field each, 2 to 4 bytes for an `int64` of 8 in memory: their files take 2.5 to 5.5 (the
/// shipped fixtures 4 to 5, 8 for the smallest); a file of packed lists of small numbers takes
/// up to 7.5.
pub(super) const DECODED_BYTES_PER_BYTE: usize = 8;

/// What decoding may take on top of that, whatever the file's size.
pub(super) const DECODED_BYTES_SLACK: usize = 1 << 20;

/// What decoding a field allocates.
#[derive(Clone, Copy)]
enum Kind {
    /// An embedded message, inside its parent's struct.
    Message(&'static Schema),
    /// A list of messages.
    Messages(&'static Schema),
    /// A string (`copied`: a `bytes` field, which the decoder copies once on the way).
    Bytes { copied: bool },
    /// A list of strings.
    BytesList { copied: bool },
    /// A list of numbers of `size` bytes in memory, packed or one per field.
    Numbers { size: usize, encoding: Encoding },
}

/// How a number is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Varint,
    Fixed32,
    Fixed64,
}

/// A message of [`super::proto`]: its size and the fields whose decoding allocates (fields
/// held in its struct, numbers and enums, need not be listed).
struct Schema {
    name: &'static str,
    size: usize,
    fields: &'static [(u32, &'static str, Kind)],
}

const fn numbers(size: usize, encoding: Encoding) -> Kind {
    Kind::Numbers { size, encoding }
}

const STRING: Kind = Kind::Bytes { copied: false };
const BYTES: Kind = Kind::Bytes { copied: true };
const STRINGS: Kind = Kind::BytesList { copied: false };

static MODEL: Schema = Schema {
    name: "ModelProto",
    size: size_of::<proto::ModelProto>(),
    fields: &[(7, "graph", Kind::Message(&GRAPH))],
};

static GRAPH: Schema = Schema {
    name: "GraphProto",
    size: size_of::<proto::GraphProto>(),
    fields: &[
        (1, "node", Kind::Messages(&NODE)),
        (5, "initializer", Kind::Messages(&TENSOR)),
        (11, "input", Kind::Messages(&VALUE_INFO)),
    ],
};

static NODE: Schema = Schema {
    name: "NodeProto",
    size: size_of::<proto::NodeProto>(),
    fields: &[
        (1, "input", STRINGS),
        (2, "output", STRINGS),
        (4, "op_type", STRING),
        (7, "domain", STRING),
        (5, "attribute", Kind::Messages(&ATTRIBUTE)),
    ],
};

static ATTRIBUTE: Schema = Schema {
    name: "AttributeProto",
    size: size_of::<proto::AttributeProto>(),
    fields: &[
        (1, "name", STRING),
        (4, "s", BYTES),
        (5, "t", Kind::Message(&TENSOR)),
        (7, "floats", numbers(4, Encoding::Fixed32)),
        (8, "ints", numbers(8, Encoding::Varint)),
        (9, "strings", Kind::BytesList { copied: true }),
    ],
};

static TENSOR: Schema = Schema {
    name: "TensorProto",
    size: size_of::<proto::TensorProto>(),
    fields: &[
        (1, "dims", numbers(8, Encoding::Varint)),
        (4, "float_data", numbers(4, Encoding::Fixed32)),
        (5, "int32_data", numbers(4, Encoding::Varint)),
        (7, "int64_data", numbers(8, Encoding::Varint)),
        (8, "name", STRING),
        (9, "raw_data", BYTES),
        (10, "double_data", numbers(8, Encoding::Fixed64)),
        (13, "external_data", Kind::Messages(&EXTERNAL_DATA)),
    ],
};

static EXTERNAL_DATA: Schema = Schema {
    name: "StringStringEntryProto",
    size: size_of::<proto::ExternalDataEntry>(),
    fields: &[],
};

static VALUE_INFO: Schema = Schema {
    name: "ValueInfoProto",
    size: size_of::<proto::ValueInfoProto>(),
    fields: &[(1, "name", STRING), (2, "type", Kind::Message(&TYPE))],
};

static TYPE: Schema = Schema {
    name: "TypeProto",
    size: size_of::<proto::TypeProto>(),
    fields: &[(1, "tensor_type", Kind::Message(&TENSOR_TYPE))],
};

static TENSOR_TYPE: Schema = Schema {
    name: "TypeProto.Tensor",
    size: size_of::<proto::type_proto::Tensor>(),
    fields: &[(2, "shape", Kind::Message(&SHAPE))],
};

static SHAPE: Schema = Schema {
    name: "TensorShapeProto",
    size: size_of::<proto::TensorShapeProto>(),
    fields: &[(1, "dim", Kind::Messages(&DIMENSION))],
};

static DIMENSION: Schema = Schema {
    name: "TensorShapeProto.Dimension",
    size: size_of::<proto::tensor_shape_proto::Dimension>(),
    fields: &[(2, "dim_param", STRING)],
};

/// What decoding a file takes, and what it holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decoded {
    /// Bytes allocated.
    pub(super) bytes: u64,
    /// Messages in lists.
    pub(super) messages: u64,
    /// Strings and `bytes` fields.
    pub(super) strings: u64,
    /// Numbers in lists.
    pub(super) numbers: u64,
    /// The longest `bytes` field: the decoder's largest copy on the way.
    largest_copy: u64,
}

/// Refuses `bytes` (a `ModelProto`) when decoding them would take more than
/// [`DECODED_BYTES_PER_BYTE`] times their size plus [`DECODED_BYTES_SLACK`].
pub(super) fn check(bytes: &[u8]) -> Result<Decoded> {
    let decoded = scan(bytes)?;
    let limit = DECODED_BYTES_PER_BYTE as u64 * bytes.len() as u64 + DECODED_BYTES_SLACK as u64;
    if decoded.bytes > limit {
        return Err(ModelError::InvalidModel(format!(
            "the file declares {} messages, {} strings and {} numbers, which would take {} bytes of \
             memory to decode, more than the limit of {limit} ({DECODED_BYTES_PER_BYTE} per byte of \
             the file, plus {DECODED_BYTES_SLACK})",
            decoded.messages, decoded.strings, decoded.numbers, decoded.bytes
        )));
    }
    Ok(decoded)
}

/// What decoding `bytes` as a `ModelProto` takes.
pub(super) fn scan(bytes: &[u8]) -> Result<Decoded> {
    let mut decoded = Decoded {
        bytes: MODEL.size as u64,
        ..Decoded::default()
    };
    message(bytes, &MODEL, &mut decoded)?;
    decoded.bytes += decoded.largest_copy;
    Ok(decoded)
}

/// Adds what decoding one message of `schema` (its fields, not its struct) takes.
fn message(bytes: &[u8], schema: &Schema, decoded: &mut Decoded) -> Result<()> {
    // Per field of the schema: the length of its list, or whether it occurred.
    let mut counts = [0u64; 8];
    debug_assert!(schema.fields.len() <= counts.len());
    let mut reader = Reader { bytes, at: 0 };
    while reader.at < bytes.len() {
        let key = reader.varint()?;
        let (tag, wire) = (key >> 3, key & 7);
        let field = schema.fields.iter().position(|&(t, _, _)| u64::from(t) == tag);
        let Some(index) = field else {
            reader.skip(tag, wire)?;
            continue;
        };
        let (_, name, kind) = schema.fields[index];
        let wrong_type = || malformed(format!("{}.{name} has wire type {wire}", schema.name));
        match kind {
            Kind::Message(inner) | Kind::Messages(inner) => {
                if wire != 2 {
                    return Err(wrong_type());
                }
                if matches!(kind, Kind::Message(_)) && counts[index] > 0 {
                    return Err(malformed(format!("{}.{name} occurs twice", schema.name)));
                }
                counts[index] += 1;
                message(reader.delimited()?, inner, decoded)?;
            }
            Kind::Bytes { copied } | Kind::BytesList { copied } => {
                if wire != 2 {
                    return Err(wrong_type());
                }
                counts[index] += 1;
                decoded.strings += 1;
                let len = reader.delimited()?.len() as u64;
                if len > 0 {
                    decoded.bytes += len.max(8);
                }
                if copied {
                    decoded.largest_copy = decoded.largest_copy.max(len);
                }
            }
            Kind::Numbers { encoding, .. } => {
                let count = match (encoding, wire) {
                    (Encoding::Varint, 0) => {
                        reader.varint()?;
                        1
                    }
                    (Encoding::Fixed64, 1) => {
                        reader.take(8)?;
                        1
                    }
                    (Encoding::Fixed32, 5) => {
                        reader.take(4)?;
                        1
                    }
                    // Packed.
                    (Encoding::Varint, 2) => reader.delimited()?.iter().filter(|&&b| b < 0x80).count(),
                    (Encoding::Fixed32 | Encoding::Fixed64, 2) => {
                        let width = if encoding == Encoding::Fixed32 { 4 } else { 8 };
                        let packed = reader.delimited()?;
                        if !packed.len().is_multiple_of(width) {
                            return Err(malformed(format!("{}.{name} is cut short", schema.name)));
                        }
                        packed.len() / width
                    }
                    _ => return Err(wrong_type()),
                };
                counts[index] += count as u64;
                decoded.numbers += count as u64;
            }
        }
    }
    for (&(_, _, kind), &count) in schema.fields.iter().zip(&counts) {
        let element = match kind {
            Kind::Messages(inner) => {
                decoded.messages += count;
                inner.size
            }
            Kind::BytesList { .. } => size_of::<Vec<u8>>(),
            Kind::Numbers { size, .. } => size,
            Kind::Message(_) | Kind::Bytes { .. } => continue,
        };
        decoded.bytes = decoded.bytes.saturating_add(list_bytes(count, element));
    }
    Ok(())
}

/// What a `Vec` of `len` elements of `size` bytes holds once grown one push at a time.
fn list_bytes(len: u64, size: usize) -> u64 {
    if len == 0 || size == 0 {
        return 0;
    }
    // The standard library's first capacity: 8 for bytes, 4 up to 1 KiB, else 1.
    let first = match size {
        1 => 8,
        2..=1024 => 4,
        _ => 1,
    };
    len.next_power_of_two().max(first).saturating_mul(size as u64)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| malformed("a field runs past the end of its message".into()))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| malformed("a number runs past the end of its message".into()))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(malformed("a number is longer than 10 bytes".into()))
    }

    /// A length-delimited field's payload.
    fn delimited(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        self.take(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// Skips a field the schema does not list.
    fn skip(&mut self, tag: u64, wire: u64) -> Result<()> {
        if tag == 0 {
            return Err(malformed("a field has number 0".into()));
        }
        match wire {
            0 => {
                self.varint()?;
            }
            1 => {
                self.take(8)?;
            }
            2 => {
                self.delimited()?;
            }
            5 => {
                self.take(4)?;
            }
            3 | 4 => {
                return Err(malformed(format!(
                    "field {tag} is a protobuf group, which ONNX does not use"
                )));
            }
            other => return Err(malformed(format!("field {tag} has wire type {other}"))),
        }
        Ok(())
    }
}

fn malformed(message: String) -> ModelError {
    ModelError::InvalidModel(format!("not an ONNX model (protobuf): {message}"))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn model(nodes: Vec<proto::NodeProto>) -> Vec<u8> {
        proto::ModelProto {
            ir_version: Some(8),
            graph: Some(proto::GraphProto {
                node: nodes,
                ..Default::default()
            }),
        }
        .encode_to_vec()
    }

    fn one_attribute(attribute: proto::AttributeProto) -> Vec<u8> {
        model(vec![proto::NodeProto {
            attribute: vec![attribute],
            ..Default::default()
        }])
    }

    const MODEL_BYTES: u64 = size_of::<proto::ModelProto>() as u64;

    fn list(len: u64, size: usize) -> u64 {
        list_bytes(len, size)
    }

    #[test]
    fn counts_what_the_decoder_allocates() {
        let (node, attribute) = (size_of::<proto::NodeProto>(), size_of::<proto::AttributeProto>());
        let decoded = scan(&model(vec![proto::NodeProto::default(); 5])).unwrap();
        assert_eq!((decoded.bytes, decoded.messages), (MODEL_BYTES + list(5, node), 5));
        // Lists grow to a power of two, at least 4 (8 for bytes).
        assert_eq!(
            (list(5, 24), list(1, 8), list(3, 1), list(1025, 4)),
            (8 * 24, 32, 8, 2048 * 4)
        );

        let decoded = scan(&one_attribute(proto::AttributeProto {
            name: Some("ab".into()),
            ints: vec![300; 33],
            strings: vec![b"BRANCH_LEQ".to_vec(), Vec::new(), b"x".to_vec()],
            ..Default::default()
        }))
        .unwrap();
        // The name, the list, its strings (10 bytes, none, 1 byte in 8) and the largest one's
        // copy on the way.
        let strings = 8 + list(3, 24) + 10 + 8 + 10;
        assert_eq!(
            decoded,
            Decoded {
                bytes: MODEL_BYTES + list(1, node) + list(1, attribute) + list(33, 8) + strings,
                messages: 2,
                strings: 4,
                numbers: 33,
                largest_copy: 10,
            }
        );

        let tensor = proto::TensorProto {
            dims: vec![3, 1],
            float_data: vec![1.0; 3],
            raw_data: Some(vec![7; 40]),
            external_data: vec![proto::ExternalDataEntry {}; 2],
            double_data: vec![0.5; 9],
            ..Default::default()
        };
        let decoded = scan(&one_attribute(proto::AttributeProto {
            t: Some(tensor),
            ..Default::default()
        }))
        .unwrap();
        let tensor = list(2, 8) + list(3, 4) + 2 * 40 + list(9, 8);
        assert_eq!(
            decoded,
            Decoded {
                bytes: MODEL_BYTES + list(1, node) + list(1, attribute) + tensor,
                messages: 4,
                strings: 1,
                numbers: 14,
                largest_copy: 40,
            }
        );
    }

    #[test]
    fn refuses_beyond_the_limit_what_the_decoder_would_merge_and_groups() {
        let empty_attributes = model(vec![proto::NodeProto {
            attribute: vec![proto::AttributeProto::default(); 100_000],
            ..Default::default()
        }]);
        let error = check(&empty_attributes).unwrap_err().to_string();
        assert!(
            error.contains("declares 100001 messages, 0 strings and 0 numbers"),
            "{error}"
        );
        assert!(error.contains("more than the limit of"), "{error}");

        let mut bytes = model(vec![proto::NodeProto::default()]);
        let graph = bytes[2..].to_vec();
        bytes.extend(graph);
        assert!(
            scan(&bytes)
                .unwrap_err()
                .to_string()
                .contains("ModelProto.graph occurs twice")
        );
        assert!(
            scan(&[0x08, 0x01, 0x1b, 0x1c])
                .unwrap_err()
                .to_string()
                .contains("group")
        );
        assert!(scan(&[0x08]).unwrap_err().to_string().contains("past the end"));
        assert!(
            scan(&[0x3a, 0x01, 0x0a])
                .unwrap_err()
                .to_string()
                .contains("past the end")
        );
    }
}
