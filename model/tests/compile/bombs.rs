//! Model files that are small on the wire and enormous once decoded ("bombs"), for every
//! format: each must be refused with an error, within seconds, without the import allocating
//! more than [`bound`] of its size. The valid fixtures, and large models as the libraries write
//! them, must import within the same bound.
//!
//! Memory is measured in-process: this binary's global allocator counts the bytes the
//! measuring thread holds (other tests run on other threads), and refuses allocations beyond
//! [`CAP`] while measuring, which aborts the test binary instead of exhausting the machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use blindfold_model::compiler::fixtures::{FORMATS, LIGHTGBM_WINE, LINEAR, NETWORKS, SHIPPED, WINE};
use blindfold_model::compiler::import::import_any;
use blindfold_model::{ModelError, import_model};

/// The size of every bomb: the server's default upload limit (`BLINDFOLD_MAX_MODEL_BYTES`).
const SIZE: usize = 16 << 20;

/// Most bytes an import may hold at once: a small multiple of its file, plus a fixed slack
/// for the tables and buffers of any import.
fn bound(file_bytes: usize) -> usize {
    8 * file_bytes + (8 << 20)
}

/// How long refusing a bomb may take (generous: the machines that run tests are shared).
const DEADLINE: Duration = Duration::from_secs(5);

/// Allocations beyond this many bytes held by a measuring thread fail (and abort the binary).
const CAP: isize = 2 << 30;

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Counts `bytes` more held by this thread while it measures; false (nothing counted) when
/// that would pass [`CAP`].
fn take(bytes: usize) -> bool {
    MEASURING
        .try_with(|measuring| {
            if !measuring.get() {
                return true;
            }
            let held = HELD.get() + bytes as isize;
            if held > CAP {
                return false;
            }
            HELD.set(held);
            PEAK.set(PEAK.get().max(held));
            true
        })
        .unwrap_or(true)
}

fn give(bytes: usize) {
    let _ = MEASURING.try_with(|measuring| {
        if measuring.get() {
            HELD.set(HELD.get() - bytes as isize);
        }
    });
}

// SAFETY: every call goes to `System` with the caller's arguments; the counting around it
// touches only this thread's plain `Cell`s, which need no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return std::ptr::null_mut();
        }
        let pointer = unsafe { System.alloc(layout) };
        if pointer.is_null() {
            give(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return std::ptr::null_mut();
        }
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if pointer.is_null() {
            give(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        give(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let grown = new_size.saturating_sub(layout.size());
        if !take(grown) {
            return std::ptr::null_mut();
        }
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if moved.is_null() {
            give(grown);
        } else {
            give(layout.size().saturating_sub(new_size));
        }
        moved
    }
}

/// Runs `f` and returns what it returned, the most bytes this thread held meanwhile (beyond
/// what it held before) and how long it took.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    HELD.set(0);
    PEAK.set(0);
    MEASURING.set(true);
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    MEASURING.set(false);
    (out, PEAK.get().max(0) as usize, elapsed)
}

/// Imports `bytes`, which must be refused (as invalid or unsupported, the server's 422) within
/// [`DEADLINE`] and [`bound`]; returns the error message.
fn refuse(name: &str, bytes: &[u8]) -> String {
    let (result, peak, elapsed) = measure(|| import_model(bytes).map(|_| ()));
    let error = match result {
        Ok(()) => panic!("{name}: the bomb was imported"),
        Err(error @ (ModelError::InvalidModel(_) | ModelError::Unsupported(_))) => error.to_string(),
        Err(other) => panic!("{name}: unexpected error {other:?}"),
    };
    println!(
        "{name}: {} bytes, peak {peak} bytes ({:.2}x), {elapsed:?}: {error}",
        bytes.len(),
        peak as f64 / bytes.len() as f64
    );
    assert!(
        peak <= bound(bytes.len()),
        "{name}: the import held {peak} bytes for a file of {}, more than {}",
        bytes.len(),
        bound(bytes.len())
    );
    assert!(elapsed <= DEADLINE, "{name}: refused after {elapsed:?}");
    error
}

macro_rules! bombs {
    ($($name:ident => $bytes:expr, $needle:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let bytes: Vec<u8> = $bytes;
                assert!(bytes.len() <= SIZE + 64, "{} bytes", bytes.len());
                let error = refuse(stringify!($name), &bytes);
                assert!(error.contains($needle), "{}: expected `{}` in `{error}`", stringify!($name), $needle);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// XGBoost UBJSON: elements of a typed container of `Z`, `T` or `F` take no bytes.
// ---------------------------------------------------------------------------------------------

/// A UBJSON key (or string payload): a `U` length then the bytes.
fn ubjson_key(name: &[u8]) -> Vec<u8> {
    let mut key = vec![b'U', name.len() as u8];
    key.extend(name);
    key
}

/// An optimized-container header `$<type>#l<count>` (without the container's own marker), its
/// count patched by [`patch_counts`].
fn ubjson_header(element: u8, bytes: &mut Vec<u8>, counts: &mut Vec<usize>) {
    bytes.extend([b'$', element, b'#', b'l']);
    counts.push(bytes.len());
    bytes.extend([0; 4]);
}

/// Sets each count at `counts` to the number of bytes after it: as many elements as the old
/// reader's check ("no more elements than bytes left") let through.
fn patch_counts(mut bytes: Vec<u8>, counts: &[usize]) -> Vec<u8> {
    for &at in counts {
        let left = i32::try_from(bytes.len() - at - 4).unwrap();
        bytes[at..at + 4].copy_from_slice(&left.to_be_bytes());
    }
    bytes
}

/// `{"a": [<zero-size elements>...], "b": "xxx..."}`: the array declares as many elements as
/// there are bytes after its header.
fn ubjson_flat(element: u8) -> Vec<u8> {
    let (mut bytes, mut counts) = (b"{".to_vec(), Vec::new());
    bytes.extend(ubjson_key(b"a"));
    bytes.push(b'[');
    ubjson_header(element, &mut bytes, &mut counts);
    bytes.extend(ubjson_key(b"b"));
    // The string's marker and length, the closing brace.
    let string = SIZE - bytes.len() - 6 - 1;
    bytes.extend(b"Sl");
    bytes.extend(i32::try_from(string).unwrap().to_be_bytes());
    bytes.resize(bytes.len() + string, b'x');
    bytes.push(b'}');
    patch_counts(bytes, &counts)
}

/// `{"\0\0\0": [<zero-size elements>...], "\0\0\x01": [...], ...}`: each array declares as
/// many elements as there are bytes after its header.
fn ubjson_side_by_side(element: u8) -> Vec<u8> {
    let (mut bytes, mut counts) = (b"{".to_vec(), Vec::new());
    let mut i = 0u32;
    while bytes.len() + 14 < SIZE {
        bytes.extend(ubjson_key(&i.to_be_bytes()[1..]));
        bytes.push(b'[');
        ubjson_header(element, &mut bytes, &mut counts);
        i += 1;
    }
    bytes.push(b'}');
    patch_counts(bytes, &counts)
}

/// `{"a": [[<zero-size elements>...], [...], ...]}`, the outer array typed `[` (its elements are
/// arrays without their own marker) or not (`typed_outer`): each array declares as many
/// elements as there are bytes after its header.
fn ubjson_nested(element: u8, typed_outer: bool) -> Vec<u8> {
    let (mut bytes, mut counts) = (b"{".to_vec(), Vec::new());
    bytes.extend(ubjson_key(b"a"));
    bytes.push(b'[');
    if typed_outer {
        ubjson_header(b'[', &mut bytes, &mut counts);
    } else {
        bytes.extend(b"#l");
        counts.push(bytes.len());
        bytes.extend([0; 4]);
    }
    while bytes.len() + 10 < SIZE {
        if !typed_outer {
            bytes.push(b'[');
        }
        ubjson_header(element, &mut bytes, &mut counts);
    }
    let arrays = counts.len() - 1;
    bytes.push(b'}');
    let mut bytes = patch_counts(bytes, &counts[1..]);
    bytes[counts[0]..counts[0] + 4].copy_from_slice(&i32::try_from(arrays).unwrap().to_be_bytes());
    bytes
}

bombs! {
    bomb_ubjson_null_array => ubjson_flat(b'Z'), "";
    bomb_ubjson_true_array => ubjson_flat(b'T'), "";
    bomb_ubjson_false_array => ubjson_flat(b'F'), "";
    bomb_ubjson_null_arrays_side_by_side => ubjson_side_by_side(b'Z'), "limit";
    bomb_ubjson_nested_null_arrays => ubjson_nested(b'Z', true), "limit";
    bomb_ubjson_nested_true_arrays => ubjson_nested(b'T', false), "limit";
    bomb_ubjson_nested_false_arrays => ubjson_nested(b'F', true), "limit";
}

// ---------------------------------------------------------------------------------------------
// XGBoost JSON: a JSON value tree takes 16 to 50 times its text.
// ---------------------------------------------------------------------------------------------

/// `prefix` then `item` repeated (comma-separated) to fill the file, then `suffix`.
fn json_repeated(prefix: &str, item: &str, suffix: &str) -> Vec<u8> {
    let mut text = String::from(prefix);
    let count = (SIZE - prefix.len() - suffix.len()) / (item.len() + 1);
    for i in 0..count {
        if i > 0 {
            text.push(',');
        }
        text.push_str(item);
    }
    text.push_str(suffix);
    text.into_bytes()
}

/// `open` repeated, `middle`, then `close` as often: nesting as deep as the file allows.
fn json_nested(open: &str, middle: &str, close: &str) -> Vec<u8> {
    let depth = (SIZE - 2 - middle.len()) / (open.len() + close.len());
    format!("{{\"a\":{}{middle}{}}}", open.repeat(depth), close.repeat(depth)).into_bytes()
}

const IN_A_TREE: &str = r#"{"learner":{"gradient_booster":{"name":"gbtree","model":{"trees":[{"left_children":["#;

bombs! {
    bomb_json_zeros => json_repeated(r#"{"a":["#, "0", "]}"), "";
    bomb_json_zeros_in_a_tree => json_repeated(IN_A_TREE, "0", "]}]}}}}"), "";
    bomb_json_empty_arrays => json_repeated(r#"{"a":["#, "[]", "]}"), "";
    bomb_json_empty_objects => json_repeated(r#"{"a":["#, "{}", "]}"), "";
    bomb_json_empty_feature_names => json_repeated(r#"{"learner":{"feature_names":["#, r#""""#, "]}}"), "";
    bomb_json_nested_objects => json_nested("{\"a\":", "0", "}"), "";
    bomb_json_nested_arrays => json_nested("[", "0", "]"), "";
}

// ---------------------------------------------------------------------------------------------
// ONNX: an empty protobuf message takes 2 bytes on the wire and its whole struct in memory.
// ---------------------------------------------------------------------------------------------

fn varint(mut value: usize, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Field `tag` of wire type 2 (length-delimited) holding `payload`.
fn field(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![tag << 3 | 2];
    varint(payload.len(), &mut out);
    out.extend(payload);
    out
}

/// A field's key: its number and wire type.
fn key(tag: u32, wire: u8, out: &mut Vec<u8>) {
    varint((tag as usize) << 3 | wire as usize, out);
}

/// An `AttributeProto` (as field 5 of a node): its name, its type and its value's field.
fn attribute(name: &str, kind: usize, value: Vec<u8>) -> Vec<u8> {
    let mut out = field(1, name.as_bytes());
    key(20, 0, &mut out);
    varint(kind, &mut out);
    out.extend(value);
    field(5, &out)
}

/// A graph of one tree operator `op_type` with `attributes`, reading the graph input `X`, a
/// float tensor of shape `[N, 4]`; in a `ModelProto`.
fn onnx_tree_model(op_type: &str, attributes: &[Vec<u8>]) -> Vec<u8> {
    let mut node = [
        field(1, b"X"),
        field(2, b"Y"),
        field(4, op_type.as_bytes()),
        field(7, b"ai.onnx.ml"),
    ]
    .concat();
    node.extend(attributes.concat());
    let mut width = Vec::new();
    key(1, 0, &mut width);
    varint(4, &mut width);
    let shape = [field(1, &field(2, b"N")), field(1, &width)].concat();
    let tensor = [vec![1 << 3, 1], field(2, &shape)].concat();
    let input = [field(1, b"X"), field(2, &field(1, &tensor))].concat();
    let graph = [field(1, &node), field(11, &input)].concat();
    [vec![0x08, 0x08], field(7, &graph)].concat()
}

/// `AttributeProto.AttributeType` codes.
const INT: usize = 2;
const STRING: usize = 3;
const TENSOR: usize = 4;
const FLOATS: usize = 6;
const INTS: usize = 7;
const STRINGS: usize = 8;

/// An opset 5 `TreeEnsemble` of one node whose `nodes_modes`, a `uint8` tensor, fills the
/// file: 1 byte per element on the wire, 8 once read as integers.
fn onnx_opset5_modes() -> Vec<u8> {
    let one = |name: &str| attribute(name, INTS, [vec![8 << 3], vec![0]].concat());
    let splits = [vec![2 << 3, 1], field(4, &0.5f32.to_le_bytes())].concat();
    let modes = [vec![2 << 3, 2], field(9, &vec![0; SIZE - 400])].concat();
    onnx_tree_model(
        "TreeEnsemble",
        &[
            one("nodes_featureids"),
            one("tree_roots"),
            attribute("nodes_splits", TENSOR, field(5, &splits)),
            attribute("nodes_modes", TENSOR, field(5, &modes)),
            one("nodes_truenodeids"),
            one("nodes_trueleafs"),
            one("nodes_falsenodeids"),
            one("nodes_falseleafs"),
            one("leaf_targetids"),
            attribute("leaf_weights", TENSOR, field(5, &splits)),
        ],
    )
}

/// A `ModelProto` (`ir_version` 8) whose graph holds `graph`, `graph` built from the bytes the
/// file has left for it.
fn onnx_model(graph: impl FnOnce(usize) -> Vec<u8>) -> Vec<u8> {
    let mut model = vec![0x08, 0x08];
    model.extend(field(7, &graph(SIZE - 16)));
    model
}

/// As many copies of `bytes` as fit in `room` bytes.
fn filled(bytes: &[u8], room: usize) -> Vec<u8> {
    bytes.repeat(room / bytes.len())
}

/// A graph of one node whose attributes are `attributes`.
fn one_node(attributes: impl FnOnce(usize) -> Vec<u8>) -> impl FnOnce(usize) -> Vec<u8> {
    move |room| field(1, &attributes(room - 8))
}

/// A node holding one attribute named `x` with `payload` after its name.
fn one_attribute(payload: impl FnOnce(usize) -> Vec<u8>) -> impl FnOnce(usize) -> Vec<u8> {
    one_node(move |room| {
        let mut attribute = field(1, b"x");
        attribute.extend(payload(room - 16));
        field(5, &attribute)
    })
}

bombs! {
    // NodeProto.attribute (5), each empty.
    bomb_onnx_empty_attributes => onnx_model(one_node(|room| filled(&[5 << 3 | 2, 0], room))), "limit";
    // GraphProto.node (1), each empty.
    bomb_onnx_empty_nodes => onnx_model(|room| filled(&[1 << 3 | 2, 0], room)), "limit";
    // GraphProto.input (11) and GraphProto.initializer (5), each empty.
    bomb_onnx_empty_graph_inputs => onnx_model(|room| filled(&[11 << 3 | 2, 0], room)), "limit";
    bomb_onnx_empty_initializers => onnx_model(|room| filled(&[5 << 3 | 2, 0], room)), "limit";
    // NodeProto.input (1), each an empty string.
    bomb_onnx_empty_node_inputs => onnx_model(one_node(|room| filled(&[1 << 3 | 2, 0], room))), "limit";
    // AttributeProto.ints (8), packed: one byte per element on the wire, eight in memory, in
    // lists one element longer than a power of two (a growing list doubles its capacity).
    bomb_onnx_packed_ints => onnx_model(one_node(|room| {
        let attribute = field(5, &[field(1, b"x"), field(8, &[0; 4097])].concat());
        filled(&attribute, room)
    })), "limit";
    // AttributeProto.strings (9), each empty.
    bomb_onnx_empty_strings => onnx_model(one_attribute(|room| filled(&[9 << 3 | 2, 0], room))), "limit";
    // AttributeProto.t (5) holding TensorProto.int64_data (7), packed, likewise.
    bomb_onnx_packed_tensor_ints => onnx_model(one_node(|room| {
        let attribute = field(5, &[field(1, b"x"), field(5, &field(7, &[0; 4097]))].concat());
        filled(&attribute, room)
    })), "limit";
    // An opset 5 ensemble of one node whose modes tensor fills the file.
    bomb_onnx_opset5_modes_tensor => onnx_opset5_modes(), "nodes_modes has";
}

// ---------------------------------------------------------------------------------------------
// LightGBM text.
// ---------------------------------------------------------------------------------------------

const LIGHTGBM_HEADER: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=0\n\
                               objective=regression\n\n";

/// `tree`, the header, then `body` (filling the file) and `end of trees`.
fn lightgbm(body: impl FnOnce(usize) -> String) -> Vec<u8> {
    let end = "end of trees\n";
    let mut text = String::from(LIGHTGBM_HEADER);
    text += &body(SIZE - text.len() - end.len());
    text += end;
    text.into_bytes()
}

bombs! {
    // `Tree=` lines without a tree.
    bomb_lightgbm_empty_trees => lightgbm(|room| "Tree\n".repeat(room / 5)), "";
    // One tree that declares millions of leaves, and has their values but no split.
    bomb_lightgbm_leaves_without_splits => lightgbm(|room| {
        let leaves = (room - 64) / 2;
        format!("Tree=0\nnum_leaves={leaves}\nnum_cat=0\nleaf_value={}\n\n", "0 ".repeat(leaves))
    }), "";
    // One tree of millions of distinct keys.
    bomb_lightgbm_unknown_keys => lightgbm(|room| {
        let mut body = String::from("Tree=0\n");
        let mut i = 0u32;
        while body.len() + 8 < room {
            body += &format!("{i:x}\n");
            i += 1;
        }
        body
    }), "";
}

// ---------------------------------------------------------------------------------------------
// Valid models.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_fixtures_import_within_the_bound() {
    for fixture in SHIPPED.into_iter().chain(FORMATS).chain(LINEAR).chain(NETWORKS) {
        let (result, peak, elapsed) = measure(|| import_any(fixture.model).map(|_| ()));
        result.unwrap();
        println!(
            "{}: {} bytes, peak {peak} bytes ({:.2}x), {elapsed:?}",
            fixture.id,
            fixture.model.len(),
            peak as f64 / fixture.model.len() as f64
        );
        assert!(peak <= bound(fixture.model.len()), "{}: {peak} bytes", fixture.id);
    }
}

/// The size of the large valid models.
const LARGE: usize = 8 << 20;

/// Models of every format that are large (about [`LARGE`]) and as their libraries write them:
/// they import, within the bound.
#[test]
fn large_models_import_within_the_bound() {
    let cases = [
        ("XGBoost JSON", large_xgboost_json()),
        ("XGBoost UBJSON", large_xgboost_ubjson()),
        ("LightGBM text", large_lightgbm()),
        ("ONNX", large_onnx(false)),
        ("ONNX, packed lists", large_onnx(true)),
    ];
    let mut beyond = Vec::new();
    for (name, bytes) in cases {
        assert!(bytes.len() > LARGE / 2, "{name}: {} bytes", bytes.len());
        let (result, peak, elapsed) = measure(|| import_model(&bytes).map(|(_, ensemble)| ensemble.trees.len()));
        let trees = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        println!(
            "{name}: {} bytes, {trees} trees, peak {peak} bytes ({:.2}x), {elapsed:?}",
            bytes.len(),
            peak as f64 / bytes.len() as f64
        );
        if peak > bound(bytes.len()) {
            beyond.push(name);
        }
    }
    assert!(beyond.is_empty(), "beyond the bound: {beyond:?}");
}

/// The wine fixture with its trees repeated.
fn large_xgboost_json() -> Vec<u8> {
    let mut document: serde_json::Value = serde_json::from_str(WINE.model_text()).unwrap();
    let model = &mut document["learner"]["gradient_booster"]["model"];
    let copies = LARGE / WINE.model.len();
    for key in ["trees", "tree_info"] {
        let items = model[key].as_array().unwrap().clone();
        model[key] = items.iter().cycle().take(items.len() * copies).cloned().collect();
    }
    document.to_string().into_bytes()
}

/// The LightGBM wine fixture with its trees repeated.
fn large_lightgbm() -> Vec<u8> {
    let text = LIGHTGBM_WINE.model_text();
    let (trees_start, trees_end) = (text.find("Tree=0").unwrap(), text.find("end of trees").unwrap());
    let copies = LARGE / text.len();
    let mut large = text[..trees_start].to_owned();
    large += &text[trees_start..trees_end].repeat(copies);
    large += &text[trees_end..];
    large.into_bytes()
}

/// A complete binary tree of `depth` levels of splits, in breadth-first order: for each node,
/// `Some((left, right))` for a split, `None` for a leaf.
fn complete_tree(depth: u32) -> Vec<Option<(usize, usize)>> {
    let splits = (1usize << depth) - 1;
    (0..2 * splits + 1)
        .map(|i| (i < splits).then_some((2 * i + 1, 2 * i + 2)))
        .collect()
}

/// A regression model of depth-6 trees on 4 features as XGBoost writes it in UBJSON (typed
/// arrays of `int32`, `float32` and bytes, every array XGBoost writes for a tree).
fn large_xgboost_ubjson() -> Vec<u8> {
    fn key(bytes: &mut Vec<u8>, name: &str) {
        bytes.extend(ubjson_key(name.as_bytes()));
    }
    fn string(bytes: &mut Vec<u8>, name: &str, value: &str) {
        key(bytes, name);
        bytes.push(b'S');
        bytes.extend(ubjson_key(value.as_bytes()));
    }
    fn typed(bytes: &mut Vec<u8>, name: &str, marker: u8, elements: &[Vec<u8>]) {
        key(bytes, name);
        bytes.extend([b'[', b'$', marker, b'#', b'L']);
        bytes.extend((elements.len() as i64).to_be_bytes());
        bytes.extend(elements.concat());
    }
    let tree = complete_tree(6);
    let ints = |f: &dyn Fn(usize, Option<(usize, usize)>) -> i32| -> Vec<Vec<u8>> {
        tree.iter()
            .enumerate()
            .map(|(i, n)| f(i, *n).to_be_bytes().to_vec())
            .collect()
    };
    let floats = |x: f32| vec![x.to_be_bytes().to_vec(); tree.len()];
    let mut one = b"{".to_vec();
    typed(&mut one, "base_weights", b'd', &floats(0.5));
    typed(&mut one, "categories", b'l', &[]);
    typed(&mut one, "default_left", b'U', &vec![vec![0]; tree.len()]);
    typed(
        &mut one,
        "left_children",
        b'l',
        &ints(&|_, n| n.map_or(-1, |(l, _)| l as i32)),
    );
    typed(&mut one, "loss_changes", b'd', &floats(1.0));
    typed(
        &mut one,
        "parents",
        b'l',
        &ints(&|i, _| if i == 0 { i32::MAX } else { (i as i32 - 1) / 2 }),
    );
    typed(
        &mut one,
        "right_children",
        b'l',
        &ints(&|_, n| n.map_or(-1, |(_, r)| r as i32)),
    );
    typed(&mut one, "split_conditions", b'd', &floats(0.25));
    typed(
        &mut one,
        "split_indices",
        b'l',
        &ints(&|i, n| n.map_or(0, |_| i as i32 % 4)),
    );
    typed(&mut one, "split_type", b'U', &vec![vec![0]; tree.len()]);
    typed(&mut one, "sum_hessian", b'd', &floats(2.0));
    key(&mut one, "tree_param");
    one.push(b'{');
    string(&mut one, "num_deleted", "0");
    string(&mut one, "num_feature", "4");
    string(&mut one, "num_nodes", &tree.len().to_string());
    string(&mut one, "size_leaf_vector", "1");
    one.extend(b"}}");
    let copies = LARGE / one.len();

    let mut bytes = b"{".to_vec();
    key(&mut bytes, "learner");
    bytes.push(b'{');
    key(&mut bytes, "gradient_booster");
    bytes.push(b'{');
    key(&mut bytes, "model");
    bytes.push(b'{');
    key(&mut bytes, "tree_info");
    bytes.extend(b"[$l#L");
    bytes.extend((copies as i64).to_be_bytes());
    bytes.extend(vec![0; 4 * copies]);
    key(&mut bytes, "trees");
    bytes.extend(b"[#L");
    bytes.extend((copies as i64).to_be_bytes());
    bytes.extend(one.repeat(copies));
    bytes.push(b'}');
    string(&mut bytes, "name", "gbtree");
    bytes.push(b'}');
    key(&mut bytes, "learner_model_param");
    bytes.push(b'{');
    string(&mut bytes, "base_score", "5E-1");
    string(&mut bytes, "num_class", "0");
    string(&mut bytes, "num_feature", "4");
    string(&mut bytes, "num_target", "1");
    bytes.push(b'}');
    key(&mut bytes, "objective");
    bytes.push(b'{');
    string(&mut bytes, "name", "reg:squarederror");
    bytes.extend(b"}}}");
    bytes
}

/// A `TreeEnsembleRegressor` of depth-10 trees on 4 features with the attributes skl2onnx
/// writes, its lists one field per element (as the ONNX tools write them) or `packed`.
fn large_onnx(packed: bool) -> Vec<u8> {
    let ints = |tag: u32, values: &[i64]| -> Vec<u8> {
        let mut out = Vec::new();
        if packed {
            let mut payload = Vec::new();
            values.iter().for_each(|&v| varint(v as usize, &mut payload));
            out = field(tag as u8, &payload);
        } else {
            for &v in values {
                key(tag, 0, &mut out);
                varint(v as usize, &mut out);
            }
        }
        out
    };
    let floats = |tag: u32, values: &[f32]| -> Vec<u8> {
        let mut out = Vec::new();
        if packed {
            out = field(
                tag as u8,
                &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
            );
        } else {
            for v in values {
                key(tag, 5, &mut out);
                out.extend(v.to_le_bytes());
            }
        }
        out
    };
    let tree = complete_tree(10);
    let per_tree = 48 * tree.len();
    let trees = LARGE / per_tree;
    let (mut tree_ids, mut node_ids, mut features, mut trues, mut falses) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut modes, mut leaf_trees, mut leaf_nodes) = (vec![], vec![], vec![]);
    for t in 0..trees as i64 {
        for (i, node) in tree.iter().enumerate() {
            tree_ids.push(t);
            node_ids.push(i as i64);
            features.push(i as i64 % 4);
            let (left, right) = node.unwrap_or((0, 0));
            trues.push(left as i64);
            falses.push(right as i64);
            modes.push(if node.is_some() { &b"BRANCH_LEQ"[..] } else { b"LEAF" });
            if node.is_none() {
                leaf_trees.push(t);
                leaf_nodes.push(i as i64);
            }
        }
    }
    let n = tree_ids.len();
    let strings = modes.iter().flat_map(|m| field(9, m)).collect::<Vec<u8>>();
    onnx_tree_model(
        "TreeEnsembleRegressor",
        &[
            attribute("n_targets", INT, [vec![3 << 3], vec![1]].concat()),
            attribute("nodes_falsenodeids", INTS, ints(8, &falses)),
            attribute("nodes_featureids", INTS, ints(8, &features)),
            attribute("nodes_hitrates", FLOATS, floats(7, &vec![1.0; n])),
            attribute("nodes_missing_value_tracks_true", INTS, ints(8, &vec![0; n])),
            attribute("nodes_modes", STRINGS, strings),
            attribute("nodes_nodeids", INTS, ints(8, &node_ids)),
            attribute("nodes_treeids", INTS, ints(8, &tree_ids)),
            attribute("nodes_truenodeids", INTS, ints(8, &trues)),
            attribute("nodes_values", FLOATS, floats(7, &vec![0.5; n])),
            attribute("post_transform", STRING, field(4, b"NONE")),
            attribute("target_ids", INTS, ints(8, &vec![0; leaf_nodes.len()])),
            attribute("target_nodeids", INTS, ints(8, &leaf_nodes)),
            attribute("target_treeids", INTS, ints(8, &leaf_trees)),
            attribute("target_weights", FLOATS, floats(7, &vec![0.125; leaf_nodes.len()])),
        ],
    )
}
