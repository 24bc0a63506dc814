//! The two ciphertext objects that travel between the sides, shared by the `client` and
//! `server` features: an [`EncryptedRow`] (client to server) and an [`EncryptedOutput`]
//! (server to client). Both are read only through size-limited, shape-checked deserialization.

use serde::{Deserialize, Serialize};
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::prelude::{
    CiphertextModulus, LweCiphertextConformanceParams, LweDimension, SeededLweCiphertextList,
};
use tfhe::named::Named;
use tfhe::shortint::atomic_pattern::AtomicPatternKind;
use tfhe::shortint::{Ciphertext, PBSOrder};
use tfhe_versionable::{Versionize, VersionsDispatch};

use crate::error::Result;
use crate::params::{PARAMETERS, big_lwe_dimension};
use crate::serialization::{from_bytes_conformant, to_bytes};
use crate::spec::ClientSpec;

/// Bytes of overhead allowed on top of 8 bytes per ciphertext in a serialized row.
const ROW_OVERHEAD_BYTES: u64 = 4096;

/// One encrypted row: the weighted thermometer code of its features (see
/// [`crate::params::InputEncoding`]), as a seeded LWE list under the client's big LWE key with
/// the parameters' GLWE noise (exactly what shortint's `ClientKey::encrypt` produces, one
/// ciphertext at a time). Only the bodies travel; the masks are regenerated from one public
/// seed, so a row costs 8 bytes per ciphertext.
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
        bits.lwe_size().to_lwe_dimension().0 == big_lwe_dimension()
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

/// Serialized size of one output block (an LWE ciphertext under the big key), with room for
/// its header.
fn block_bytes() -> u64 {
    (big_lwe_dimension() as u64 + 1) * 8 + 256
}

/// The encrypted result: per output, its base-4 blocks (least significant first) under the
/// client's big LWE key. Reveals nothing without the client key.
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(EncryptedOutputVersions)]
pub struct EncryptedOutput {
    pub(crate) outputs: Vec<Vec<Ciphertext>>,
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub enum EncryptedOutputVersions {
    V0(EncryptedOutput),
}

impl std::fmt::Debug for EncryptedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let blocks: Vec<usize> = self.outputs.iter().map(Vec::len).collect();
        write!(f, "EncryptedOutput {{ blocks: {blocks:?} }}")
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
}

impl ParameterSetConformant for EncryptedOutput {
    type ParameterSet = OutputShape;

    fn is_conformant(&self, shape: &OutputShape) -> bool {
        let lwe = LweCiphertextConformanceParams {
            lwe_dim: LweDimension(big_lwe_dimension()),
            ct_modulus: CiphertextModulus::new_native(),
        };
        self.outputs.len() == shape.blocks.len()
            && self.outputs.iter().zip(&shape.blocks).all(|(blocks, &count)| {
                blocks.len() == count
                    && blocks.iter().all(|b| {
                        b.ct.is_conformant(&lwe)
                            && b.message_modulus == PARAMETERS.message_modulus
                            && b.carry_modulus == PARAMETERS.carry_modulus
                            && b.atomic_pattern == AtomicPatternKind::Standard(PBSOrder::KeyswitchBootstrap)
                    })
            })
    }
}

impl EncryptedOutput {
    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = OutputShape {
            blocks: self.outputs.iter().map(Vec::len).collect(),
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
        let bytes = EncryptedOutput { outputs: vec![blocks] }.to_bytes();
        let result = EncryptedOutput::from_bytes(&bytes, &spec);
        assert!(
            matches!(result, Err(ModelError::WrongParameters { .. })),
            "{:?}",
            result.err()
        );
    }
}
