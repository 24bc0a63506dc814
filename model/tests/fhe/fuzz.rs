//! Property tests: random and mutated bytes and text at every parser of untrusted input (server
//! keys, encrypted rows, encrypted results, XGBoost model files, CSV, client specs) and hostile
//! numbers at row validation. Every property: no panic, and every error is the typed
//! [`ModelError`] variant that parser documents.
//!
//! Part of the `fhe` test binary (which already links TFHE and holds one key pair) rather than a
//! binary of its own. Run alone with `cargo test --release -p blindfold-model --test fhe fuzz`.

use std::fmt::Debug;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use blindfold_model::compiler::fixtures::{BREAST_CANCER, DIABETES, FORMATS, Fixture, WINE};
use blindfold_model::params::{InputEncoding, PARAMETER_SET_NAME, ThermometerEncoding};
use blindfold_model::spec::quantize::FeatureQuantizer;
use blindfold_model::spec::{OutputDecoding, SPEC_FORMAT_VERSION};
use blindfold_model::{
    ClientKey, ClientSpec, CompileOptions, CompiledModel, CompressedServerKey, Dataset, EncryptedOutput, EncryptedRow,
    ModelError, Objective, decrypt_prediction, decrypt_raw, encrypt_row, evaluate, import_model, import_xgboost_json,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use serde_json::Value;

use super::KEYS;

// ---------------------------------------------------------------------------------------------
// Harness

/// Runs `test` on `cases` values of `strategy`; on failure, panics with the shrunk input.
fn check<S>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let start = Instant::now();
    let mut runner = TestRunner::new(config);
    if let Err(error) = runner.run(&strategy, test) {
        panic!("{name}: {error}");
    }
    eprintln!(
        "fuzz {name}: {cases} cases in {:.2?} (decoder panics caught by the crate's guard so far: {})",
        start.elapsed(),
        GUARDED_PANICS.load(Ordering::Relaxed)
    );
}

/// Decoding errors caught by the crate's own panic guard (`serialization::guard`): tfhe-rs
/// panicked on the bytes. Not a failure (the crate turned it into an error), but reported.
static GUARDED_PANICS: AtomicUsize = AtomicUsize::new(0);

/// A decoder's verdict must be one of the three decoding errors.
fn decoding_error(error: &ModelError) -> TestCaseResult {
    if let ModelError::Malformed { detail, .. } = error
        && detail == "the decoder rejected the bytes"
    {
        GUARDED_PANICS.fetch_add(1, Ordering::Relaxed);
    }
    prop_assert!(
        matches!(
            error,
            ModelError::Malformed { .. } | ModelError::WrongParameters { .. } | ModelError::TooLarge { .. }
        ),
        "unexpected error variant: {error:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Byte mutations

/// A position in a byte string: anywhere, or within its first 512 bytes (where the headers,
/// type names, versions and length fields of tfhe's serialization are).
#[derive(Debug, Clone)]
struct Pos {
    head: bool,
    at: Index,
}

impl Pos {
    /// A position in `0..len` (`len > 0`).
    fn of(&self, len: usize) -> usize {
        let span = if self.head { len.min(512) } else { len };
        self.at.index(span.max(1)).min(len.saturating_sub(1))
    }
}

fn pos() -> impl Strategy<Value = Pos> {
    (any::<bool>(), any::<Index>()).prop_map(|(head, at)| Pos { head, at })
}

/// A new value for a length field.
#[derive(Debug, Clone)]
enum NewLength {
    Set(u64),
    Adjust(i64),
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Flip one bit.
    Flip { at: Pos, bit: u8 },
    /// Keep only a prefix.
    Truncate { keep: Index },
    /// Insert bytes.
    Insert { at: Pos, bytes: Vec<u8> },
    /// Delete a run of bytes.
    Remove { at: Pos, len: usize },
    /// Overwrite a run of bytes.
    Overwrite { at: Pos, bytes: Vec<u8> },
    /// Rewrite one of the little-endian u64s that look like a length (a count no larger than the
    /// input) among the first 64 KiB: bincode's vector and string lengths.
    Length { field: Index, value: NewLength },
    /// Append bytes.
    Extend { bytes: Vec<u8> },
}

fn new_length() -> impl Strategy<Value = NewLength> {
    prop_oneof![
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::from(u32::MAX)),
            Just(u64::MAX),
            Just(1 << 40),
            Just(1 << 63),
            any::<u64>(),
        ]
        .prop_map(NewLength::Set),
        (-64i64..64).prop_map(NewLength::Adjust),
    ]
}

/// Inserted bytes: random ones, or tokens that parsers of numbers and JSON find interesting.
fn inserted_bytes() -> impl Strategy<Value = Vec<u8>> {
    let tokens: Vec<Vec<u8>> = [
        "1e999",
        "-1e999",
        "NaN",
        "-",
        "[",
        "]",
        "{",
        "}",
        "\"",
        ",",
        ":",
        "\\u0000",
        "99999999999999999999",
        "\u{FEFF}",
        "\n",
        "\r\n",
        "\0",
        "\u{10FFFF}",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..16),
        prop::sample::select(tokens),
        prop_oneof![Just(0u8), Just(0xff)].prop_flat_map(|b| prop::collection::vec(Just(b), 1..64)),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (pos(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        1 => any::<Index>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => (pos(), inserted_bytes()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (pos(), 1usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => (pos(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        2 => (any::<Index>(), new_length()).prop_map(|(field, value)| Mutation::Length { field, value }),
        1 => inserted_bytes().prop_map(|bytes| Mutation::Extend { bytes }),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

/// Offsets of the little-endian u64s in the first 64 KiB whose value could be a length.
fn length_fields(bytes: &[u8]) -> Vec<usize> {
    let end = bytes.len().min(64 << 10).saturating_sub(7);
    (0..end)
        .filter(|&i| {
            let value = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
            value > 0 && value <= bytes.len() as u64
        })
        .collect()
}

fn mutate(original: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::Flip { at, bit } if len > 0 => bytes[at.of(len)] ^= 1 << bit,
            Mutation::Truncate { keep } => bytes.truncate(keep.index(len + 1)),
            Mutation::Insert { at, bytes: new } => {
                let i = if len == 0 { 0 } else { at.of(len) };
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Remove { at, len: n } if len > 0 => {
                let i = at.of(len);
                bytes.drain(i..(i + n).min(len));
            }
            Mutation::Overwrite { at, bytes: new } if len > 0 => {
                let i = at.of(len);
                for (b, n) in bytes[i..].iter_mut().zip(new) {
                    *b = *n;
                }
            }
            Mutation::Length { field, value } => {
                let fields = length_fields(&bytes);
                if !fields.is_empty() {
                    let i = fields[field.index(fields.len())];
                    let old = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
                    let new = match value {
                        NewLength::Set(v) => *v,
                        NewLength::Adjust(d) => old.wrapping_add_signed(*d),
                    };
                    bytes[i..i + 8].copy_from_slice(&new.to_le_bytes());
                }
            }
            Mutation::Extend { bytes: new } => bytes.extend_from_slice(new),
            _ => {}
        }
    }
    bytes
}

/// Random bytes, or a valid object's first bytes (its header) followed by random ones.
fn random_bytes_after(valid: &'static [u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..max),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 0..max)).prop_map(move |(cut, tail)| {
            let mut bytes = valid[..cut.index(valid.len().min(1024))].to_vec();
            bytes.extend(tail);
            bytes
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the properties

static COMPILED: LazyLock<CompiledModel> = LazyLock::new(|| BREAST_CANCER.compile().unwrap());
static OTHER_SPECS: LazyLock<Vec<ClientSpec>> =
    LazyLock::new(|| vec![WINE.compile().unwrap().spec, DIABETES.compile().unwrap().spec]);

/// A real encrypted row of the breast cancer model and the real encrypted result of it.
static ROW_AND_RESULT: LazyLock<(Vec<u8>, Vec<u8>)> = LazyLock::new(|| {
    let (rows, _) = BREAST_CANCER.test_rows().unwrap();
    let row = encrypt_row(&COMPILED.spec, &KEYS.client, &rows[0]).unwrap().to_bytes();
    let received = EncryptedRow::from_bytes(&row, COMPILED.plan.input.ciphertexts()).unwrap();
    let (output, _) = evaluate(&COMPILED.plan, &KEYS.server, &received).unwrap();
    (row, output.to_bytes())
});

static CLIENT_KEY_BYTES: LazyLock<Vec<u8>> = LazyLock::new(|| KEYS.client.to_bytes());

/// Mutated rows that still decode are evaluated and decrypted, a few per run (each costs an
/// evaluation); the same for keys (each costs a decompression).
static EVALUATIONS: AtomicUsize = AtomicUsize::new(0);
static DECOMPRESSIONS: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------------------------
// Server keys

#[test]
fn fuzz_server_key_random_bytes() {
    check(
        "server key, random bytes",
        128,
        random_bytes_after(&KEYS.compressed, 4096),
        |bytes| match CompressedServerKey::from_bytes(&bytes) {
            Ok(_) => Err(TestCaseError::fail("random bytes decoded as a key")),
            Err(error) => decoding_error(&error),
        },
    );
}

#[test]
fn fuzz_server_key_mutations() {
    // Each case copies and decodes a ~30 MB key.
    check("server key, mutations", 24, mutations(), |mutations| {
        let bytes = mutate(&KEYS.compressed, &mutations);
        match CompressedServerKey::from_bytes(&bytes) {
            Ok(key) => {
                // What the server does with an accepted key (about a second: only a couple).
                if DECOMPRESSIONS.fetch_add(1, Ordering::Relaxed) < 2 {
                    let _ = key.decompress();
                }
                Ok(())
            }
            Err(error) => decoding_error(&error),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Encrypted rows

#[test]
fn fuzz_encrypted_row_random_bytes() {
    let count = COMPILED.plan.input.ciphertexts();
    let (row, _) = &*ROW_AND_RESULT;
    let row: &'static [u8] = Box::leak(row.clone().into_boxed_slice());
    let counts = prop_oneof![Just(count), 0usize..4096, Just(1 << 20)];
    check(
        "encrypted row, random bytes",
        256,
        (random_bytes_after(row, 20_000), counts),
        |(bytes, count)| match EncryptedRow::from_bytes(&bytes, count) {
            Ok(row) => {
                // Only a truncated header followed by random bytes could decode at all.
                prop_assert_eq!(row.ciphertexts(), count);
                Ok(())
            }
            Err(error) => decoding_error(&error),
        },
    );
}

#[test]
fn fuzz_encrypted_row_mutations() {
    let count = COMPILED.plan.input.ciphertexts();
    let (row, _) = &*ROW_AND_RESULT;
    check("encrypted row, mutations", 128, mutations(), |mutations| {
        let bytes = mutate(row, &mutations);
        match EncryptedRow::from_bytes(&bytes, count) {
            Ok(received) => {
                prop_assert_eq!(received.ciphertexts(), count);
                // A tampered row that still has the right shape is evaluated like any other;
                // its result must decrypt or be reported inconsistent.
                if EVALUATIONS.fetch_add(1, Ordering::Relaxed) < 2 {
                    let (output, _) = evaluate(&COMPILED.plan, &KEYS.server, &received)
                        .map_err(|e| TestCaseError::fail(format!("evaluating a conformant row: {e:?}")))?;
                    match decrypt_raw(&COMPILED.spec, &KEYS.client, &output) {
                        Ok(_) | Err(ModelError::InconsistentResult(_)) => {}
                        Err(error) => prop_assert!(false, "decrypting: {error:?}"),
                    }
                }
                Ok(())
            }
            Err(error) => decoding_error(&error),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Encrypted results (what the CLI and the page download)

/// Reads and decrypts `bytes` as a result of `spec`: errors must be decoding errors or an
/// inconsistent result.
fn read_result(spec: &ClientSpec, key: &ClientKey, bytes: &[u8]) -> TestCaseResult {
    match EncryptedOutput::from_bytes(bytes, spec) {
        Ok(output) => match decrypt_raw(spec, key, &output) {
            Ok(raw) => {
                prop_assert_eq!(raw.len(), spec.outputs.len());
                for (value, decoding) in raw.iter().zip(&spec.outputs) {
                    prop_assert!(*value <= decoding.max_value);
                }
            }
            Err(ModelError::InconsistentResult(_)) => {}
            Err(error) => prop_assert!(false, "decrypt_raw: {error:?}"),
        },
        Err(error) => decoding_error(&error)?,
    }
    match decrypt_prediction(spec, key, bytes) {
        Ok(prediction) => prop_assert_eq!(prediction.raw.len(), spec.outputs.len()),
        Err(ModelError::InconsistentResult(_)) => {}
        Err(error) => decoding_error(&error)?,
    }
    Ok(())
}

#[test]
fn fuzz_encrypted_result_random_bytes() {
    let (_, result) = &*ROW_AND_RESULT;
    let result: &'static [u8] = Box::leak(result.clone().into_boxed_slice());
    check(
        "encrypted result, random bytes",
        256,
        random_bytes_after(result, 40_000),
        |bytes| read_result(&COMPILED.spec, &KEYS.client, &bytes),
    );
}

#[test]
fn fuzz_encrypted_result_mutations() {
    let (_, result) = &*ROW_AND_RESULT;
    // Mostly the model's own spec; sometimes another model's (a result of the wrong shape).
    let spec = prop_oneof![6 => Just(0usize), 1 => Just(1), 1 => Just(2)];
    check(
        "encrypted result, mutations",
        256,
        (mutations(), spec),
        |(mutations, spec)| {
            let bytes = mutate(result, &mutations);
            let spec = if spec == 0 {
                &COMPILED.spec
            } else {
                &OTHER_SPECS[spec - 1]
            };
            read_result(spec, &KEYS.client, &bytes)
        },
    );
}

#[test]
fn fuzz_client_key_mutations() {
    check("client key, mutations", 64, mutations(), |mutations| {
        let bytes = mutate(&CLIENT_KEY_BYTES, &mutations);
        match ClientKey::from_bytes(&bytes) {
            Ok(_) => Ok(()),
            Err(error) => decoding_error(&error),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// JSON: XGBoost model files and client specs

/// A step in a JSON document.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    At(usize),
}

/// Every path in `value` (the root excluded), shallow ones (depth <= 4) first.
fn paths(value: &Value) -> (Vec<Vec<Step>>, usize) {
    fn walk(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        let children: Vec<(Step, &Value)> = match value {
            Value::Object(map) => map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
            Value::Array(items) => items.iter().enumerate().map(|(i, v)| (Step::At(i), v)).collect(),
            _ => return,
        };
        for (step, child) in children {
            prefix.push(step);
            out.push(prefix.clone());
            walk(child, prefix, out);
            prefix.pop();
        }
    }
    let mut all = Vec::new();
    walk(value, &mut Vec::new(), &mut all);
    all.sort_by_key(Vec::len);
    let shallow = all.iter().filter(|p| p.len() <= 4).count();
    (all, shallow)
}

fn get_mut<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::At(i) => v.get_mut(*i),
    })
}

/// A structural edit of a JSON document.
#[derive(Debug, Clone)]
enum JsonEdit {
    /// Replace the value at a path.
    Replace { shallow: bool, at: Index, with: Value },
    /// Remove an object's field or an array's element.
    Remove { shallow: bool, at: Index },
    /// Repeat an array's element (or wrap a scalar) `times` times.
    Repeat { shallow: bool, at: Index, times: usize },
    /// Wrap the value at a path in `depth` arrays.
    Nest { shallow: bool, at: Index, depth: usize },
}

/// Hostile JSON values: huge, tiny, negative and fractional numbers, number-like strings, empty
/// and nested containers.
fn hostile_value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "learner",
        "learner_model_param",
        "num_feature",
        "num_class",
        "base_score",
        "objective",
        "name",
        "gradient_booster",
        "model",
        "trees",
        "tree_info",
        "left_children",
        "right_children",
        "split_indices",
        "split_conditions",
        "features",
        "edges",
        "outputs",
        "blocks",
        "max_value",
        "multi_softprob",
        "classes",
    ])
    .prop_map(str::to_owned);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(2),
            Just(i64::MIN),
            Just(i64::MAX),
            any::<i64>()
        ]
        .prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        prop_oneof![
            Just(1e308),
            Just(-1e308),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(3.5e38),
            Just(-3.5e38),
            Just(-0.0),
            Just(0.5),
            any::<f64>(),
        ]
        .prop_map(Value::from),
        prop::sample::select(vec![
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "",
            " ",
            "1e999",
            "[1e999]",
            "[0.5,0.5]",
            "[]",
            "[,]",
            "18446744073709551616",
            "-1",
            "0",
            "c",
            "binary:logistic",
            "multi:softprob",
            "reg:squarederror",
            "dart",
            "gbtree",
            "binary_logistic",
            "reg_squared_error",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        4 => (any::<bool>(), any::<Index>(), hostile_value())
            .prop_map(|(shallow, at, with)| JsonEdit::Replace { shallow, at, with }),
        2 => (any::<bool>(), any::<Index>()).prop_map(|(shallow, at)| JsonEdit::Remove { shallow, at }),
        1 => (any::<bool>(), any::<Index>(), 0usize..200)
            .prop_map(|(shallow, at, times)| JsonEdit::Repeat { shallow, at, times }),
        1 => (any::<bool>(), any::<Index>(), 1usize..140)
            .prop_map(|(shallow, at, depth)| JsonEdit::Nest { shallow, at, depth }),
    ]
}

fn edit_json(document: &Value, edits: &[JsonEdit]) -> String {
    let mut document = document.clone();
    for edit in edits {
        let (all, shallow_count) = paths(&document);
        if all.is_empty() {
            break;
        }
        let pick = |shallow: bool, at: &Index| {
            let span = if shallow && shallow_count > 0 {
                shallow_count
            } else {
                all.len()
            };
            all[at.index(span)].clone()
        };
        match edit {
            JsonEdit::Replace { shallow, at, with } => {
                *get_mut(&mut document, &pick(*shallow, at)).unwrap() = with.clone();
            }
            JsonEdit::Remove { shallow, at } => {
                let mut path = pick(*shallow, at);
                let last = path.pop().unwrap();
                match (get_mut(&mut document, &path).unwrap(), last) {
                    (Value::Object(map), Step::Key(k)) => {
                        map.remove(&k);
                    }
                    (Value::Array(items), Step::At(i)) => {
                        items.remove(i);
                    }
                    _ => unreachable!("paths are built from the document"),
                }
            }
            JsonEdit::Repeat { shallow, at, times } => {
                let target = get_mut(&mut document, &pick(*shallow, at)).unwrap();
                let items = match &*target {
                    Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                let repeated: Vec<Value> = items.iter().cycle().take(items.len() * times).cloned().collect();
                *target = Value::Array(repeated);
            }
            JsonEdit::Nest { shallow, at, depth } => {
                let target = get_mut(&mut document, &pick(*shallow, at)).unwrap();
                let mut nested = target.take();
                for _ in 0..*depth {
                    nested = Value::Array(vec![nested]);
                }
                *target = nested;
            }
        }
    }
    document.to_string()
}

static MODEL_DOCUMENTS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    [BREAST_CANCER, WINE, DIABETES]
        .iter()
        .map(|f| serde_json::from_str(f.model_text()).unwrap())
        .collect()
});

/// Imports `json`; a model that imports is also compiled with the fixture's calibration rows
/// (what `blindfold-server import-model` does), which must not panic either.
fn import_and_compile(json: &str, fixture: usize) -> TestCaseResult {
    match import_xgboost_json(json) {
        Ok(ensemble) => {
            prop_assert!(!ensemble.trees.is_empty());
            let fixture = [BREAST_CANCER, WINE, DIABETES][fixture];
            compile_quickly(&ensemble, &fixture);
            Ok(())
        }
        Err(ModelError::InvalidModel(_) | ModelError::Unsupported(_)) => Ok(()),
        Err(error) => Err(TestCaseError::fail(format!("unexpected error variant: {error:?}"))),
    }
}

/// Compiles at one input precision (the search over precisions runs the same code per
/// precision): compiling must not panic on anything an importer accepts.
fn compile_quickly(ensemble: &blindfold_model::TreeEnsemble, fixture: &Fixture) {
    let calibration = Dataset::from_csv(fixture.train_csv).unwrap();
    let options = CompileOptions {
        input_bits: Some(3),
        ..Default::default()
    };
    let _ = blindfold_model::compile(ensemble, &calibration, &options);
}

/// Every other format (LightGBM text, ONNX protobuf, XGBoost UBJSON) under byte mutations,
/// through the one entry point that detects the format.
#[test]
fn fuzz_model_import_mutations_of_every_format() {
    let case = (0usize..FORMATS.len(), mutations());
    check(
        "model import, every format, mutations",
        192,
        case,
        |(fixture, mutations)| {
            let fixture = FORMATS[fixture];
            let bytes = mutate(fixture.model, &mutations);
            match import_model(&bytes) {
                Ok((_, ensemble)) => {
                    prop_assert!(!ensemble.trees.is_empty());
                    compile_quickly(&ensemble, &fixture);
                    Ok(())
                }
                Err(ModelError::InvalidModel(_) | ModelError::Unsupported(_) | ModelError::TooLarge { .. }) => Ok(()),
                Err(error) => Err(TestCaseError::fail(format!("unexpected error variant: {error:?}"))),
            }
        },
    );
}

#[test]
fn fuzz_xgboost_import_random_text() {
    let text = prop_oneof![
        ".{0,200}",
        prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        hostile_value().prop_map(|v| v.to_string()),
        (1usize..100_000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        (1usize..100_000).prop_map(|n| format!("{}1{}", "{\"learner\":".repeat(n), "}".repeat(n))),
    ];
    check("xgboost import, random text", 256, text, |text| {
        import_and_compile(&text, 0)
    });
}

#[test]
fn fuzz_xgboost_import_json_edits() {
    let case = (0usize..3, prop::collection::vec(json_edit(), 1..4));
    check("xgboost import, JSON edits", 192, case, |(fixture, edits)| {
        let json = edit_json(&MODEL_DOCUMENTS[fixture], &edits);
        import_and_compile(&json, fixture)
    });
}

#[test]
fn fuzz_xgboost_import_text_mutations() {
    let case = (0usize..3, mutations());
    check("xgboost import, text mutations", 128, case, |(fixture, mutations)| {
        let model = [BREAST_CANCER, WINE, DIABETES][fixture].model_text();
        let text = mutate(model.as_bytes(), &mutations);
        import_and_compile(&String::from_utf8_lossy(&text), fixture)
    });
}

/// Hostile numbers for rows: non-finite, huge, tiny, negative zero, and ordinary values.
fn hostile_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(-0.0),
        Just(1e300),
        any::<f64>(),
        -1e4f64..1e4,
        0.0f64..30.0,
    ]
}

/// What a parsed spec must survive: rows of hostile numbers, thermometer codes, decoding of
/// arbitrary integers.
fn exercise_spec(spec: &ClientSpec, row: &[f64], raw: &[u64]) -> TestCaseResult {
    let _ = spec.feature_names();
    let ciphertexts = spec.input_ciphertexts();
    match spec.quantize_row(row) {
        Ok(levels) => {
            prop_assert_eq!(levels.len(), spec.features.len());
            prop_assert_eq!(spec.thermometer(&levels).len(), ciphertexts);
        }
        Err(ModelError::InvalidInput(_)) => {}
        Err(error) => prop_assert!(false, "quantize_row: {error:?}"),
    }
    // What clients say of values beyond the calibration data: never a panic, each within it.
    for outside in spec.outside_calibration(row) {
        let taken = outside.treated_as();
        prop_assert!(outside.calibration_min <= taken && taken <= outside.calibration_max);
        let _ = outside.to_string();
    }
    for raw in [
        raw,
        &vec![0; spec.outputs.len()][..],
        &raw.iter().copied().cycle().take(spec.outputs.len()).collect::<Vec<_>>(),
    ] {
        match spec.decode(raw) {
            Ok(prediction) => prop_assert_eq!(prediction.raw.len(), spec.outputs.len()),
            Err(ModelError::InconsistentResult(_)) => {}
            Err(error) => prop_assert!(false, "decode: {error:?}"),
        }
    }
    Ok(())
}

/// Finite numbers for spec fields (a non-finite one serializes as `null`, which only tests
/// the JSON parser): huge, tiny, negative zero, ordinary.
fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(-0.0),
        Just(1e300),
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        -1e4f64..1e4,
        0.0f64..30.0,
    ]
}

/// Specs built field by field: objectives with 0 to 4 classes, label and output counts that
/// agree or not, blocks and maxima around their limits, edges sorted or not.
fn built_spec() -> impl Strategy<Value = ClientSpec> {
    let objective = prop_oneof![
        Just(Objective::BinaryLogistic),
        Just(Objective::RegSquaredError),
        (0usize..5).prop_map(|classes| Objective::MultiSoftprob { classes }),
        (0usize..5).prop_map(|classes| Objective::AveragedProbabilities { classes }),
        Just(Objective::MultiSoftprob { classes: usize::MAX }),
    ];
    let output = (
        0usize..20,
        prop_oneof![Just(0u64), Just(1), Just(u64::MAX), any::<u64>(), 0u64..100_000],
        finite_f64(),
        finite_f64(),
    )
        .prop_map(|(blocks, max_value, scale, offset)| OutputDecoding {
            blocks,
            max_value,
            scale,
            offset,
        });
    let feature = (
        ".{0,8}",
        prop::collection::vec(finite_f64(), 0..20),
        prop::bool::weighted(0.85),
        finite_f64(),
        finite_f64(),
    )
        .prop_map(|(name, mut edges, sorted, mut calibration_min, mut calibration_max)| {
            if sorted {
                edges.retain(|e| !e.is_nan());
                edges.sort_by(f64::total_cmp);
                edges.dedup();
                if calibration_min > calibration_max {
                    std::mem::swap(&mut calibration_min, &mut calibration_max);
                }
            }
            FeatureQuantizer {
                name,
                edges,
                calibration_min,
                calibration_max,
            }
        });
    (
        objective,
        prop::collection::vec(feature, 1..4),
        0usize..5,
        prop::bool::weighted(0.85),
        prop::collection::vec(output, 0..5),
        prop::bool::weighted(0.85),
        prop_oneof![8 => Just(SPEC_FORMAT_VERSION), 1 => any::<u32>()],
        prop_oneof![
            8 => Just(InputEncoding::thermometer()),
            1 => Just(InputEncoding::Thermometer(ThermometerEncoding { parameter_set: PARAMETER_SET_NAME.into(), weights: vec![1] }))
        ],
    )
        .prop_map(
            |(objective, mut features, n, agree, mut outputs, labels_agree, format_version, encryption)| {
                if n == 4 {
                    features.clear();
                }
                // Mostly counts that agree with the objective, so that the checks after them run.
                let classes = objective.classes().unwrap_or(0);
                if agree && objective.outputs() <= 8 {
                    outputs.resize(objective.outputs(), OutputDecoding {
                        blocks: 2,
                        max_value: 10,
                        scale: 0.1,
                        offset: -0.5,
                    });
                }
                let labels = if labels_agree { classes.min(8) } else { n };
                ClientSpec {
                    format_version,
                    features,
                    objective,
                    labels: (0..labels).map(|i| format!("label {i}")).collect(),
                    outputs,
                    encryption,
                }
            },
        )
}

/// Parses a spec: `Format` errors only; a spec that parses must survive [`exercise_spec`].
fn parse_spec(json: &str, row: &[f64], raw: &[u64]) -> TestCaseResult {
    match ClientSpec::from_json(json) {
        Ok(spec) => exercise_spec(&spec, row, raw),
        Err(ModelError::Format(_)) => Ok(()),
        Err(error) => Err(TestCaseError::fail(format!("unexpected error variant: {error:?}"))),
    }
}

fn row() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(hostile_f64(), 0..6)
}

fn raw() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![any::<u64>(), 0u64..1000, Just(u64::MAX)], 0..5)
}

#[test]
fn fuzz_client_spec_built() {
    static PARSED: AtomicUsize = AtomicUsize::new(0);
    check(
        "client spec, built",
        512,
        (built_spec(), row(), raw()),
        |(spec, row, raw)| {
            let json = spec.to_json();
            if ClientSpec::from_json(&json).is_ok() {
                PARSED.fetch_add(1, Ordering::Relaxed);
            }
            parse_spec(&json, &row, &raw)
        },
    );
    // The generator must get past the checks often, or the property tests little.
    let parsed = PARSED.load(Ordering::Relaxed);
    eprintln!("fuzz client spec, built: {parsed} of the specs parsed");
    assert!(parsed >= 32, "only {parsed} built specs parsed");
}

#[test]
fn fuzz_client_spec_json_edits() {
    let document: Value = serde_json::from_str(&COMPILED.spec.to_json()).unwrap();
    let case = (prop::collection::vec(json_edit(), 1..4), row(), raw());
    check("client spec, JSON edits", 256, case, |(edits, row, raw)| {
        parse_spec(&edit_json(&document, &edits), &row, &raw)
    });
}

#[test]
fn fuzz_client_spec_random_text() {
    let json = COMPILED.spec.to_json();
    let text = prop_oneof![
        ".{0,200}",
        hostile_value().prop_map(|v| v.to_string()),
        mutations().prop_map(move |m| String::from_utf8_lossy(&mutate(json.as_bytes(), &m)).into_owned()),
    ];
    check(
        "client spec, random text",
        256,
        (text, row(), raw()),
        |(text, row, raw)| parse_spec(&text, &row, &raw),
    );
}

// ---------------------------------------------------------------------------------------------
// CSV

/// CSV cells: numbers, non-numbers, non-finite spellings, quotes, separators, unicode.
fn csv_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_f64().prop_map(|v| v.to_string()),
        prop::sample::select(vec![
            "", " ", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e-999", "0x10", "1_000", "١", "\"1\"",
            "\"1,2\"", "\"", "\"\"", "a,b", "\r", "\t1\t", "1;2", "+1", "--1", ".", "e5", "5e", "\u{0}",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,8}",
        ".{0,4}",
    ]
}

fn csv_text() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just("mean radius,mean texture".to_owned()),
        prop::collection::vec(csv_cell(), 0..4).prop_map(|c| c.join(",")),
    ];
    let rows = prop::collection::vec(prop::collection::vec(csv_cell(), 0..4), 0..6);
    let line_end = prop::sample::select(vec!["\n", "\r\n", "\r"]);
    prop_oneof![
        3 => (header, rows, line_end).prop_map(|(header, rows, end)| {
            let mut lines = vec![header];
            lines.extend(rows.iter().map(|r| r.join(",")));
            lines.join(end)
        }),
        1 => ".{0,300}",
        1 => mutations().prop_map(|m| String::from_utf8_lossy(&mutate(&BREAST_CANCER.test_csv.as_bytes()[..2000], &m)).into_owned()),
    ]
}

#[test]
fn fuzz_dataset_csv() {
    let names = prop::collection::vec(
        prop_oneof![
            Just("mean radius".to_owned()),
            Just("mean texture".to_owned()),
            csv_cell()
        ],
        0..3,
    );
    check(
        "dataset CSV",
        512,
        (csv_text(), names),
        |(text, names)| match Dataset::from_csv(&text) {
            Ok(data) => {
                prop_assert!(!data.columns.is_empty());
                for row in &data.rows {
                    prop_assert_eq!(row.len(), data.columns.len());
                    prop_assert!(row.iter().all(|v| v.is_finite()));
                }
                match data.select(&names) {
                    Ok(rows) => prop_assert!(rows.iter().all(|r| r.len() == names.len())),
                    Err(ModelError::InvalidData(_)) => {}
                    Err(error) => prop_assert!(false, "select: {error:?}"),
                }
                for name in &names {
                    match data.column(name) {
                        Ok(column) => prop_assert_eq!(column.len(), data.rows.len()),
                        Err(ModelError::InvalidData(_)) => {}
                        Err(error) => prop_assert!(false, "column: {error:?}"),
                    }
                }
                Ok(())
            }
            Err(ModelError::InvalidData(_)) => Ok(()),
            Err(error) => Err(TestCaseError::fail(format!("unexpected error variant: {error:?}"))),
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile numbers at the client

#[test]
fn fuzz_hostile_rows_are_refused_before_encryption() {
    let spec = &COMPILED.spec;
    let (rows, _) = BREAST_CANCER.test_rows().unwrap();
    let base: &'static [f64] = Box::leak(rows[0].clone().into_boxed_slice());
    // A valid row with a few values replaced, or cut or extended.
    let case = (
        prop::collection::vec((any::<Index>(), hostile_f64()), 0..4),
        prop_oneof![4 => Just(base.len()), 1 => 0usize..40],
    );
    check("hostile rows", 64, case, |(edits, len)| {
        let mut row = base.to_vec();
        for (at, value) in &edits {
            row[at.index(base.len())] = *value;
        }
        row.resize(len, 1.0);
        let valid = len == spec.features.len() && spec.features.iter().zip(&row).all(|(_, &x)| x.is_finite());
        match encrypt_row(spec, &KEYS.client, &row) {
            Ok(encrypted) => {
                prop_assert!(valid, "encrypted an invalid row {row:?}");
                prop_assert_eq!(encrypted.ciphertexts(), spec.input_ciphertexts());
            }
            Err(ModelError::InvalidInput(_)) => prop_assert!(!valid, "refused a valid row {row:?}"),
            Err(error) => prop_assert!(false, "unexpected error variant: {error:?}"),
        }
        Ok(())
    });
}

#[test]
fn fuzz_quantizer_calibration() {
    let values = prop::collection::vec(hostile_f64(), 0..64);
    check(
        "quantizer calibration",
        256,
        (values, 1usize..=256, row()),
        |(values, levels, row)| match FeatureQuantizer::from_calibration("x", &values, levels) {
            Ok(q) => {
                prop_assert!(q.levels() <= levels.max(1));
                for x in row {
                    if q.validate(x).is_ok() {
                        prop_assert!(q.quantize(x) < q.levels());
                    }
                }
                Ok(())
            }
            Err(ModelError::InvalidData(_)) => Ok(()),
            Err(error) => Err(TestCaseError::fail(format!("unexpected error variant: {error:?}"))),
        },
    );
}
