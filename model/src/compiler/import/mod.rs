//! One entry point for every model file an owner may bring: the format is detected from the
//! file's content, never from its name, and every error starts with the format it was read as.
//!
//! Model files are hostile input. Every importer bounds what it allocates by a small multiple of
//! the file's size (or a fixed cap) before allocating it, and refuses a file beyond its limits
//! as invalid or unsupported, naming the limit: the UBJSON reader counts the elements that
//! containers declare, the ONNX importer what decoding the protobuf would take; JSON and UBJSON
//! are read into typed documents, not value trees; LightGBM text is read in place. See each
//! module for its limits; `model/tests/compile/bombs.rs` checks them on files built to exhaust
//! memory.
//!
//! | format | made by | module |
//! | --- | --- | --- |
//! | XGBoost JSON | `booster.save_model("model.json")` | [`xgboost`] |
//! | XGBoost UBJSON | `booster.save_model("model.ubj")` (XGBoost ≥ 2.1's default) | [`xgboost`] |
//! | LightGBM text | `booster.save_model("model.txt")` | [`lightgbm`] |
//! | ONNX | `skl2onnx.to_onnx(model, X[:1].astype(np.float32))` | [`onnx`] |
//!
//! Each importer yields the float model of the file's family ([`ImportedModel`]): a
//! [`TreeEnsemble`] from every format, or from ONNX a [`LinearModel`] (a linear classifier or
//! regressor behind its scalers). The compiler takes tree ensembles; [`import_model`] refuses
//! the other families by name.

pub mod lightgbm;
pub mod onnx;
mod ubjson;
pub mod xgboost;

use std::fmt;

use crate::compiler::ensemble::TreeEnsemble;
use crate::compiler::linear::LinearModel;
use crate::compiler::network::Network;
use crate::error::{ModelError, Result};

/// What a model file holds: the float model of its family.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportedModel {
    Trees(TreeEnsemble),
    Linear(LinearModel),
    Network(Network),
}

impl ImportedModel {
    /// The family in a few words, for messages.
    pub fn family(&self) -> &'static str {
        match self {
            ImportedModel::Trees(_) => "a tree ensemble",
            ImportedModel::Linear(_) => "a linear model",
            ImportedModel::Network(_) => "a neural network",
        }
    }
}

/// The largest model file any importer accepts.
pub const MAX_MODEL_BYTES: usize = 64 * 1024 * 1024;

/// A model file format Blindfold imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    XgboostJson,
    XgboostUbjson,
    LightgbmText,
    Onnx,
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelFormat::XgboostJson => "XGBoost JSON",
            ModelFormat::XgboostUbjson => "XGBoost UBJSON",
            ModelFormat::LightgbmText => "LightGBM text",
            ModelFormat::Onnx => "ONNX",
        })
    }
}

impl ModelFormat {
    /// The format `bytes` are in, from their first bytes: a JSON object, a UBJSON object
    /// (`{` then a length marker or an optimized-container header), LightGBM's `tree` line,
    /// or else ONNX (protobuf has no magic number; the ONNX importer says if it is not one).
    pub fn detect(bytes: &[u8]) -> Result<Self> {
        let trimmed = bytes.trim_ascii_start();
        if lightgbm::is_lightgbm_text(bytes) {
            return Ok(ModelFormat::LightgbmText);
        }
        match trimmed {
            [b'{', b'L' | b'i' | b'U' | b'I' | b'l' | b'$' | b'#', ..] if trimmed.len() == bytes.len() => {
                Ok(ModelFormat::XgboostUbjson)
            }
            [b'{', ..] => Ok(ModelFormat::XgboostJson),
            [] => Err(ModelError::InvalidModel("the file is empty".into())),
            // ModelProto's first field is `ir_version` (field 1, varint): tag byte 0x08.
            [0x08, ..] => Ok(ModelFormat::Onnx),
            _ => Err(ModelError::InvalidModel(
                "not a model file Blindfold reads (XGBoost JSON or UBJSON, LightGBM text, or ONNX)".into(),
            )),
        }
    }
}

/// Detects the format of `bytes` and imports a tree ensemble; any other family is refused (the
/// compiler takes tree ensembles only, for now).
pub fn import_model(bytes: &[u8]) -> Result<(ModelFormat, TreeEnsemble)> {
    match import_any(bytes)? {
        (format, ImportedModel::Trees(ensemble)) => Ok((format, ensemble)),
        (format, other) => Err(ModelError::Unsupported(format!(
            "{format}: {} (Blindfold compiles tree ensembles only, for now)",
            other.family()
        ))),
    }
}

/// Detects the format of `bytes` and imports the model, whatever its family.
pub fn import_any(bytes: &[u8]) -> Result<(ModelFormat, ImportedModel)> {
    if bytes.len() > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge {
            what: "model file",
            size: bytes.len() as u64,
            limit: MAX_MODEL_BYTES as u64,
        });
    }
    let format = ModelFormat::detect(bytes)?;
    let model = match format {
        ModelFormat::XgboostJson => xgboost::import_xgboost_json(utf8(bytes)?).map(ImportedModel::Trees),
        ModelFormat::XgboostUbjson => xgboost::import_xgboost_ubjson(bytes).map(ImportedModel::Trees),
        ModelFormat::LightgbmText => lightgbm::import_lightgbm_text(utf8(bytes)?).map(ImportedModel::Trees),
        ModelFormat::Onnx => onnx::import_onnx_model(bytes),
    }
    .map_err(|e| match e {
        ModelError::InvalidModel(m) => ModelError::InvalidModel(format!("{format}: {m}")),
        ModelError::Unsupported(m) => ModelError::Unsupported(format!("{format}: {m}")),
        other => other,
    })?;
    Ok((format, model))
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| ModelError::InvalidModel(format!("not UTF-8 text: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format_from_its_content() {
        let cases: [(&[u8], ModelFormat); 5] = [
            (br#"{"learner": {}}"#, ModelFormat::XgboostJson),
            (b"  {\n}", ModelFormat::XgboostJson),
            (
                b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{}}",
                ModelFormat::XgboostUbjson,
            ),
            (b"tree\nversion=v4\n", ModelFormat::LightgbmText),
            (b"\x08\x0a\x12\x07skl2onnx", ModelFormat::Onnx),
        ];
        for (bytes, format) in cases {
            assert_eq!(ModelFormat::detect(bytes).unwrap(), format);
        }
        for bytes in [&b""[..], b"PK\x03\x04", b"<xml>", b"   "] {
            assert!(ModelFormat::detect(bytes).is_err());
        }
    }

    #[test]
    fn errors_name_the_format_they_were_read_as() {
        let error = import_model(b"tree\nversion=v4\n").unwrap_err().to_string();
        assert!(error.starts_with("invalid model: LightGBM text: "), "{error}");
        let error = import_model(b"{\"learner\": 1}").unwrap_err().to_string();
        assert!(error.starts_with("invalid model: XGBoost JSON: "), "{error}");
        let error = import_model(&vec![b' '; MAX_MODEL_BYTES + 1]).unwrap_err().to_string();
        assert!(error.contains("too large"), "{error}");
    }
}
