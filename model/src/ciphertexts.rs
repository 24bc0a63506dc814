//! The two ciphertext objects that travel between the sides, shared by the `client` and
//! `server` features: an [`EncryptedRow`] (client to server) and an [`EncryptedOutput`]
//! (server to client). Both are read only through size-limited, shape-checked deserialization.

use std::convert::Infallible;

use serde::{Deserialize, Serialize};
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::prelude::{
    CiphertextModulus, CiphertextModulusLog, CompressedModulusSwitchedLweCiphertext,
    CompressedModulusSwitchedLweCiphertextConformanceParams, LweCiphertextConformanceParams, LweDimension,
    MsDecompressionType, SeededLweCiphertextList,
};
use tfhe::named::Named;
use tfhe::shortint::atomic_pattern::AtomicPatternKind;
use tfhe::shortint::{Ciphertext, PBSOrder};
use tfhe_versionable::{Upgrade, Version, Versionize, VersionsDispatch};

use crate::error::Result;
use crate::params::{PARAMETERS, RESULT_MODULUS_LOG, small_lwe_dimension};
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

/// The shape an encrypted row must have.
pub struct RowShape {
    pub ciphertexts: usize,
}

impl ParameterSetConformant for EncryptedRow {
    type ParameterSet = RowShape;

    fn is_conformant(&self, shape: &RowShape) -> bool {
        let bits = &self.bits;
        bits.lwe_size().to_lwe_dimension().0 == small_lwe_dimension()
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

    /// Reads an uploaded row that must hold exactly `ciphertexts` ciphertexts.
    pub fn from_bytes(bytes: &[u8], ciphertexts: usize) -> Result<Self> {
        from_bytes_conformant(
            bytes,
            Self::size_limit(ciphertexts),
            "encrypted row",
            &RowShape { ciphertexts },
        )
    }

    pub fn ciphertexts(&self) -> usize {
        self.bits.lwe_ciphertext_count().0
    }
}

/// Serialized size of one output block with room for its header: the larger of a legacy
/// big-key block (2049 coefficients of 64 bits) and a current one (919 of 12 bits).
fn block_bytes() -> u64 {
    let big = PARAMETERS.glwe_dimension.0 * PARAMETERS.polynomial_size.0;
    (big as u64 + 1) * 8 + 256
}

/// The encrypted result: per output, its base-4 blocks (least significant first). Reveals
/// nothing without the client key.
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(EncryptedOutputVersions)]
pub struct EncryptedOutput {
    pub(crate) blocks: OutputBlocks,
}

/// How a result's blocks are encrypted.
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(OutputBlocksVersions)]
pub(crate) enum OutputBlocks {
    /// What the server sends now: each block keyswitched to the client's small key and
    /// modulus-switched to `2N`, packed at 12 bits per coefficient (~1.4 KB a block; see
    /// [`crate::params`] for why decrypting it is as reliable as a bootstrap).
    Compact(Vec<Vec<CompressedModulusSwitchedLweCiphertext<u64>>>),
    /// Results made before compact blocks (kept until their retention ends): shortint
    /// ciphertexts under the big key, 16 KB a block.
    Big(Vec<Vec<Ciphertext>>),
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub(crate) enum OutputBlocksVersions {
    V0(OutputBlocks),
}

/// The result format before compact blocks.
#[derive(Version)]
pub struct EncryptedOutputV0 {
    outputs: Vec<Vec<Ciphertext>>,
}

impl Upgrade<EncryptedOutput> for EncryptedOutputV0 {
    type Error = Infallible;

    fn upgrade(self) -> std::result::Result<EncryptedOutput, Infallible> {
        Ok(EncryptedOutput {
            blocks: OutputBlocks::Big(self.outputs),
        })
    }
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub enum EncryptedOutputVersions {
    V0(EncryptedOutputV0),
    V1(EncryptedOutput),
}

impl std::fmt::Debug for EncryptedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedOutput {{ blocks: {:?} }}", self.shape())
    }
}

impl Named for EncryptedOutput {
    const NAME: &'static str = "blindfold::EncryptedOutput";
}

/// The shape a result must have: blocks per output.
pub struct OutputShape {
    pub blocks: Vec<usize>,
}

impl OutputShape {
    pub fn of(spec: &ClientSpec) -> Self {
        Self {
            blocks: spec.outputs.iter().map(|o| o.blocks).collect(),
        }
    }

    fn size_limit(&self) -> u64 {
        self.blocks.iter().sum::<usize>() as u64 * block_bytes() + 4096
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
        match &self.blocks {
            OutputBlocks::Compact(outputs) => {
                let small = LweDimension(small_lwe_dimension());
                let block = CompressedModulusSwitchedLweCiphertextConformanceParams {
                    ct_params: LweCiphertextConformanceParams {
                        lwe_dim: small,
                        ct_modulus: CiphertextModulus::new_native(),
                    },
                    ms_decompression_type: MsDecompressionType::ClassicPbs {
                        br_input_modulus_log: CiphertextModulusLog(RESULT_MODULUS_LOG),
                        br_input_lwe_dim: small,
                    },
                };
                shape.fits(outputs, |b| b.is_conformant(&block))
            }
            OutputBlocks::Big(outputs) => {
                let lwe = LweCiphertextConformanceParams {
                    lwe_dim: LweDimension(PARAMETERS.glwe_dimension.0 * PARAMETERS.polynomial_size.0),
                    ct_modulus: CiphertextModulus::new_native(),
                };
                shape.fits(outputs, |b| {
                    b.ct.is_conformant(&lwe)
                        && b.message_modulus == PARAMETERS.message_modulus
                        && b.carry_modulus == PARAMETERS.carry_modulus
                        && b.atomic_pattern == AtomicPatternKind::Standard(PBSOrder::KeyswitchBootstrap)
                })
            }
        }
    }
}

impl EncryptedOutput {
    /// Blocks per output.
    pub fn shape(&self) -> Vec<usize> {
        match &self.blocks {
            OutputBlocks::Compact(outputs) => outputs.iter().map(Vec::len).collect(),
            OutputBlocks::Big(outputs) => outputs.iter().map(Vec::len).collect(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = OutputShape { blocks: self.shape() };
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
    use tfhe::core_crypto::prelude::{LweCiphertextCount, LweSize};
    use tfhe::core_crypto::seeders::new_seeder;

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

    #[cfg(feature = "compiler")]
    #[test]
    fn a_result_of_other_parameters_is_refused() {
        use tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128;

        let spec = crate::fixtures::BREAST_CANCER.compile().unwrap().spec;
        // Same LWE dimension (4 x 512), other message and carry moduli.
        let other = tfhe::shortint::ClientKey::new(V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128);
        let blocks = (0..spec.outputs[0].blocks).map(|_| other.encrypt(1)).collect();
        let bytes = EncryptedOutput {
            blocks: OutputBlocks::Big(vec![blocks]),
        }
        .to_bytes();
        let result = EncryptedOutput::from_bytes(&bytes, &spec);
        assert!(
            matches!(result, Err(ModelError::WrongParameters { .. })),
            "{:?}",
            result.err()
        );
    }

    /// A result stored before compact blocks (the format `EncryptedOutput` had then, byte for
    /// byte: a versioned struct of big-key shortint blocks under the same name) still reads
    /// and decrypts, so a user's retained results survive the upgrade.
    #[cfg(all(feature = "client", feature = "compiler"))]
    #[test]
    fn a_result_from_before_compact_blocks_still_decrypts() {
        #[derive(Serialize, Deserialize, Versionize)]
        #[versionize(LegacyOutputVersions)]
        struct LegacyOutput {
            outputs: Vec<Vec<Ciphertext>>,
        }
        #[derive(VersionsDispatch)]
        #[allow(dead_code)]
        enum LegacyOutputVersions {
            V0(LegacyOutput),
        }
        impl Named for LegacyOutput {
            const NAME: &'static str = "blindfold::EncryptedOutput";
        }

        let spec = crate::fixtures::BREAST_CANCER.compile().unwrap().spec;
        let key = crate::keys::ClientKey::generate();
        let digits = [1u64, 1, 0, 0, 0, 0];
        let blocks = spec.outputs[0].blocks;
        let legacy = LegacyOutput {
            outputs: vec![digits[..blocks].iter().map(|&d| key.inner.encrypt(d)).collect()],
        };
        let bytes = to_bytes(&legacy, 1 << 20);
        let output = EncryptedOutput::from_bytes(&bytes, &spec).unwrap();
        assert!(matches!(output.blocks, OutputBlocks::Big(_)));
        let expected = crate::params::from_digits(digits[..blocks].iter().copied());
        assert_eq!(
            crate::decrypt::decrypt_raw(&spec, &key, &output).unwrap(),
            vec![expected]
        );
    }
}
