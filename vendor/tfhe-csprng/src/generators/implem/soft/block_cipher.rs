use crate::generators::aes_ctr::{
    Aes128Key, Aes256Key, AesBlockCipher, AES_CALLS_PER_BATCH, BYTES_PER_AES_CALL, BYTES_PER_BATCH,
};
use aes::cipher::consts::U16;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes256, Block};

#[derive(Copy, Clone)]
pub struct Software;

impl crate::generators::implem::AesBackend for Software {
    type Aes128BlockCipher = SoftwareAes128BlockCipher;

    type Aes256BlockCipher = SoftwareAes256BlockCipher;
}

#[derive(Clone)]
pub struct SoftwareAes128BlockCipher {
    // Aes structure
    aes: Aes128,
}

impl AesBlockCipher for SoftwareAes128BlockCipher {
    type Key = Aes128Key;

    fn new(key: Self::Key) -> SoftwareAes128BlockCipher {
        let key: [u8; BYTES_PER_AES_CALL] = key.0.to_ne_bytes();
        let key = Block::from(key);
        let aes = Aes128::new(&key);
        SoftwareAes128BlockCipher { aes }
    }

    fn generate_batch(&mut self, data: [u128; AES_CALLS_PER_BATCH]) -> [u8; BYTES_PER_BATCH] {
        aes_encrypt_many(
            data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7], &self.aes,
        )
    }

    fn generate_next(&mut self, data: u128) -> [u8; BYTES_PER_AES_CALL] {
        aes_encrypt_one(data, &self.aes)
    }
}

#[derive(Clone)]
pub struct SoftwareAes256BlockCipher {
    // Aes structure
    aes: Aes256,
}

impl AesBlockCipher for SoftwareAes256BlockCipher {
    type Key = Aes256Key;

    fn new(key: Self::Key) -> Self {
        let aes = Aes256::new(&key.0.into());
        SoftwareAes256BlockCipher { aes }
    }

    fn generate_batch(&mut self, data: [u128; AES_CALLS_PER_BATCH]) -> [u8; BYTES_PER_BATCH] {
        aes_encrypt_many(
            data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7], &self.aes,
        )
    }

    fn generate_next(&mut self, data: u128) -> [u8; BYTES_PER_AES_CALL] {
        aes_encrypt_one(data, &self.aes)
    }
}

fn aes_encrypt_one<G>(message: u128, cipher: &G) -> [u8; BYTES_PER_AES_CALL]
where
    G: BlockCipherEncrypt<BlockSize = U16>,
{
    let mut b1 = Block::from(message.to_ne_bytes());

    cipher.encrypt_block(&mut b1);

    b1.into()
}

// Encrypts a batch of counters with one call of the cipher's batch API: the fixsliced
// software AES then runs on its native word (four blocks per pass on 64-bit and wasm32
// targets), where encrypting block by block runs eight single-block passes on 16-bit words.
#[allow(clippy::too_many_arguments)]
fn aes_encrypt_many<G>(
    message_1: u128,
    message_2: u128,
    message_3: u128,
    message_4: u128,
    message_5: u128,
    message_6: u128,
    message_7: u128,
    message_8: u128,
    cipher: &G,
) -> [u8; BYTES_PER_BATCH]
where
    G: BlockCipherEncrypt<BlockSize = U16>,
{
    let mut blocks = [
        Block::from(message_1.to_ne_bytes()),
        Block::from(message_2.to_ne_bytes()),
        Block::from(message_3.to_ne_bytes()),
        Block::from(message_4.to_ne_bytes()),
        Block::from(message_5.to_ne_bytes()),
        Block::from(message_6.to_ne_bytes()),
        Block::from(message_7.to_ne_bytes()),
        Block::from(message_8.to_ne_bytes()),
    ];
    cipher.encrypt_blocks(&mut blocks);

    let mut output = [0u8; BYTES_PER_BATCH];
    for (chunk, block) in output.chunks_exact_mut(BYTES_PER_AES_CALL).zip(&blocks) {
        chunk.copy_from_slice(block);
    }
    output
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::generators::aes_ctr::block_cipher_generic_test;

    #[test]
    fn test_encrypt_one_message() {
        block_cipher_generic_test::test_fips197_c1_single_block::<SoftwareAes128BlockCipher>();
    }

    #[test]
    fn test_encrypt_many_messages() {
        block_cipher_generic_test::test_fips197_c1_batch::<SoftwareAes128BlockCipher>();
    }

    #[test]
    fn test_encrypt_one_message_256() {
        block_cipher_generic_test::test_fips197_c3_single_block::<SoftwareAes256BlockCipher>();
    }

    #[test]
    fn test_encrypt_many_messages_256() {
        block_cipher_generic_test::test_fips197_c3_batch::<SoftwareAes256BlockCipher>();
    }

    #[test]
    fn test_nist_vectors_256() {
        block_cipher_generic_test::test_nist_ecb_aes256_single_blocks::<SoftwareAes256BlockCipher>(
        );
    }

    #[test]
    fn test_nist_vectors_256_batch() {
        block_cipher_generic_test::test_nist_ecb_aes256_batch::<SoftwareAes256BlockCipher>();
    }

    #[test]
    fn test_encrypt_many_matches_encrypt_one_256() {
        block_cipher_generic_test::test_batch_matches_single_aes256::<SoftwareAes256BlockCipher>();
    }

    #[test]
    fn test_aes128_and_aes256_differ() {
        block_cipher_generic_test::test_aes128_and_aes256_differ::<
            SoftwareAes128BlockCipher,
            SoftwareAes256BlockCipher,
        >();
    }
}
