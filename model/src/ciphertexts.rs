//! The two ciphertext objects that travel between the sides, shared by the `client` and
//! `server` features: an [`EncryptedRow`] (client to server) and an [`EncryptedOutput`]
//! (server to client). Both are read only through size-limited, shape-checked deserialization.

use serde::{Deserialize, Serialize};
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::prelude::{
    CiphertextModulus, CiphertextModulusLog, CompressedModulusSwitchedLweCiphertext,
    CompressedModulusSwitchedLweCiphertextConformanceParams, LweCiphertextConformanceParams, LweDimension,
    MsDecompressionType, SeededLweCiphertextList,
};
use tfhe::named::Named;
use tfhe_versionable::{Versionize, VersionsDispatch};

use crate::error::Result;
use crate::params::{InputEncoding, RESULT_MODULUS_LOG, small_lwe_dimension};
use crate::serialization::{from_bytes_conformant, to_bytes};
use crate::spec::ClientSpec;

/// Bytes of overhead allowed on top of 8 bytes per ciphertext in a serialized row.
const ROW_OVERHEAD_BYTES: u64 = 4096;

/// One encrypted row: the thermometer code of its features (see
/// [`crate::params::InputEncoding`]), as a seeded LWE list under the client's small LWE key
/// with the parameters' LWE noise (as the keyswitch key's entries are encrypted). Only the
/// bodies travel; the masks are regenerated from one public seed, so a row costs 8 bytes per
/// ciphertext.
///
/// Reveals nothing but the row's shape (the spec's number of ciphertexts).
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(EncryptedRowVersions)]
pub struct EncryptedRow {
    pub(crate) bits: SeededLweCiphertextList<Vec<u64>>,
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub enum EncryptedRowVersions {
    V0(EncryptedRow),
}

impl std::fmt::Debug for EncryptedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedRow {{ ciphertexts: {} }}", self.ciphertexts())
    }
}

impl Named for EncryptedRow {
    const NAME: &'static str = "blindfold::EncryptedRow";
}

/// The shape an encrypted row must have: how many ciphertexts, under which key (the small
/// key's dimension, or the big key's for a network: [`InputEncoding::row_lwe_dimension`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowShape {
    pub ciphertexts: usize,
    pub lwe_dimension: usize,
}

/// A row of this many ciphertexts under the small key (a tree ensemble's or a linear model's).
impl From<usize> for RowShape {
    fn from(ciphertexts: usize) -> Self {
        RowShape {
            ciphertexts,
            lwe_dimension: small_lwe_dimension(),
        }
    }
}

impl ParameterSetConformant for EncryptedRow {
    type ParameterSet = RowShape;

    fn is_conformant(&self, shape: &RowShape) -> bool {
        let bits = &self.bits;
        bits.lwe_size().to_lwe_dimension().0 == shape.lwe_dimension
            && bits.lwe_ciphertext_count().0 == shape.ciphertexts
            && bits.as_ref().len() == shape.ciphertexts
            && bits.ciphertext_modulus() == CiphertextModulus::new_native()
    }
}

impl EncryptedRow {
    /// Largest serialized size of a row of `ciphertexts`.
    pub fn size_limit(ciphertexts: usize) -> u64 {
        ciphertexts as u64 * 8 + ROW_OVERHEAD_BYTES
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self, Self::size_limit(self.bits.lwe_ciphertext_count().0))
    }

    /// Reads an uploaded row that must have exactly `shape`.
    pub fn from_bytes(bytes: &[u8], shape: impl Into<RowShape>) -> Result<Self> {
        let shape = shape.into();
        from_bytes_conformant(bytes, Self::size_limit(shape.ciphertexts), "encrypted row", &shape)
    }

    /// Dimension of the key the row is encrypted under.
    #[cfg(feature = "server")]
    pub(crate) fn lwe_dimension(&self) -> usize {
        self.bits.lwe_size().to_lwe_dimension().0
    }

    pub fn ciphertexts(&self) -> usize {
        self.bits.lwe_ciphertext_count().0
    }
}

/// Serialized size of one output block with room for its header: `n + 1` coefficients of
/// `modulus_log` bits, counted as whole bytes each.
fn block_bytes(modulus_log: usize) -> u64 {
    (small_lwe_dimension() as u64 + 1) * modulus_log.div_ceil(8) as u64 + 256
}

/// The encrypted result: per output, its base-4 blocks (least significant first), each
/// keyswitched to the client's small key and modulus-switched to `2N`, packed at 12 bits per
/// coefficient (~1.4 KB a block; see [`crate::params`] for why decrypting it is as reliable as
/// a bootstrap). Reveals nothing without the client key.
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(EncryptedOutputVersions)]
pub struct EncryptedOutput {
    pub(crate) outputs: Vec<Vec<CompressedModulusSwitchedLweCiphertext<u64>>>,
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub enum EncryptedOutputVersions {
    V0(EncryptedOutput),
}

impl std::fmt::Debug for EncryptedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedOutput {{ blocks: {:?} }}", self.shape())
    }
}

impl Named for EncryptedOutput {
    const NAME: &'static str = "blindfold::EncryptedOutput";
}

/// The shape a result must have: blocks per output, and their modulus.
pub struct OutputShape {
    pub blocks: Vec<usize>,
    /// Bits per coefficient: [`RESULT_MODULUS_LOG`] for a tree ensemble's blocks, the
    /// encoding's `b` for a linear model's outputs.
    pub modulus_log: usize,
}

impl OutputShape {
    pub fn of(spec: &ClientSpec) -> Self {
        Self {
            blocks: spec.outputs.iter().map(|o| o.blocks).collect(),
            modulus_log: match &spec.encryption {
                InputEncoding::Thermometer(_) => RESULT_MODULUS_LOG,
                InputEncoding::Linear(_) | InputEncoding::Network(_) => {
                    spec.encryption.wide_result().expect("one ciphertext per output").1 as usize
                }
            },
        }
    }

    fn size_limit(&self) -> u64 {
        self.blocks.iter().sum::<usize>() as u64 * block_bytes(self.modulus_log) + 4096
    }

    fn fits<T>(&self, outputs: &[Vec<T>], conformant: impl Fn(&T) -> bool) -> bool {
        outputs.len() == self.blocks.len()
            && outputs
                .iter()
                .zip(&self.blocks)
                .all(|(blocks, &count)| blocks.len() == count && blocks.iter().all(&conformant))
    }
}

impl ParameterSetConformant for EncryptedOutput {
    type ParameterSet = OutputShape;

    fn is_conformant(&self, shape: &OutputShape) -> bool {
        let small = LweDimension(small_lwe_dimension());
        let block = CompressedModulusSwitchedLweCiphertextConformanceParams {
            ct_params: LweCiphertextConformanceParams {
                lwe_dim: small,
                ct_modulus: CiphertextModulus::new_native(),
            },
            ms_decompression_type: MsDecompressionType::ClassicPbs {
                br_input_modulus_log: CiphertextModulusLog(shape.modulus_log),
                br_input_lwe_dim: small,
            },
        };
        shape.fits(&self.outputs, |b| b.is_conformant(&block))
    }
}

impl EncryptedOutput {
    /// Blocks per output.
    pub fn shape(&self) -> Vec<usize> {
        self.outputs.iter().map(Vec::len).collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // A bound for any modulus a result uses (at most 32 bits, so that wasm32's `usize`
        // holds a coefficient); reading checks the exact one.
        let shape = OutputShape {
            blocks: self.shape(),
            modulus_log: 32,
        };
        to_bytes(self, shape.size_limit())
    }

    /// Reads a result that must have the shape `spec` announces.
    pub fn from_bytes(bytes: &[u8], spec: &ClientSpec) -> Result<Self> {
        let shape = OutputShape::of(spec);
        from_bytes_conformant(bytes, shape.size_limit(), "encrypted result", &shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ModelError;
    use tfhe::core_crypto::prelude::{
        LweCiphertextCount, LweSize, ModulusSwitchedLweCiphertext, ToCompressedModulusSwitchedLweCiphertext,
    };
    use tfhe::core_crypto::seeders::new_seeder;

    use crate::params::PARAMETERS;

    #[test]
    fn a_row_of_another_dimension_is_refused() {
        let count = 8;
        let mut seeder = new_seeder();
        let bits = SeededLweCiphertextList::new(
            0u64,
            LweSize(1025),
            LweCiphertextCount(count),
            seeder.seed().into(),
            PARAMETERS.ciphertext_modulus,
        );
        let bytes = to_bytes(&EncryptedRow { bits }, EncryptedRow::size_limit(count));
        let result = EncryptedRow::from_bytes(&bytes, count);
        assert!(
            matches!(result, Err(ModelError::WrongParameters { .. })),
            "{:?}",
            result.err()
        );
    }

    /// A block of one more mask coefficient than the client's small key.
    struct OtherDimension;

    impl ModulusSwitchedLweCiphertext<usize> for OtherDimension {
        fn log_modulus(&self) -> CiphertextModulusLog {
            CiphertextModulusLog(RESULT_MODULUS_LOG)
        }

        fn lwe_dimension(&self) -> LweDimension {
            LweDimension(small_lwe_dimension() + 1)
        }

        fn body(&self) -> usize {
            1
        }

        fn mask(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
            (0..self.lwe_dimension().0).map(|i| i % 4096)
        }
    }

    #[cfg(feature = "compiler")]
    #[test]
    fn a_result_of_other_parameters_is_refused() {
        let spec = crate::compiler::fixtures::BREAST_CANCER.compile().unwrap().spec;
        let blocks = (0..spec.outputs[0].blocks)
            .map(|_| OtherDimension.compress::<u64>())
            .collect();
        let bytes = EncryptedOutput { outputs: vec![blocks] }.to_bytes();
        let result = EncryptedOutput::from_bytes(&bytes, &spec);
        assert!(
            matches!(result, Err(ModelError::WrongParameters { .. })),
            "{:?}",
            result.err()
        );
    }
}
