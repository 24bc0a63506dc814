//! Key generation and key (de)serialization.
//!
//! Trust model (as in tfhe-rs `shortint`): the [`ClientKey`] is secret and stays with the user;
//! the [`CompressedServerKey`] is public evaluation material that the user uploads once; the
//! server decompresses it into a [`ServerKey`] and evaluates plans with it. All keys use
//! [`crate::params::PARAMETERS`].
//!
//! Features follow the trust model: the `client` feature generates keys and serializes the
//! compressed server key; the `server` feature reads it and expands it.
//!
//! # Contract
//!
//! - **What the server key is**: a key-switching key (the big key encrypted under the small
//!   one) and a bootstrapping key (the small key's bits encrypted under the big one), made as
//!   tfhe-rs makes them, with the same parameters and noise; it lets the server evaluate and
//!   reveals nothing about the secret keys at the parameters' security (>= 128 bits).
//! - **Reading it** ([`CompressedServerKey::from_bytes`], server side): untrusted bytes, read
//!   within [`MAX_COMPRESSED_SERVER_KEY_BYTES`] and refused unless their type, version and every
//!   parameter are Blindfold's. What no check can catch is a well-formed key made under another
//!   secret key: results evaluated with it decrypt to noise, which decryption mostly detects
//!   (see `serialization`).

use serde::{Deserialize, Serialize};
use tfhe::conformance::ParameterSetConformant;
use tfhe::named::Named;
use tfhe::shortint;
use tfhe::shortint::atomic_pattern::AtomicPatternParameters;
use tfhe::shortint::ciphertext::MaxDegree;
use tfhe_versionable::{Versionize, VersionsDispatch};

use crate::error::Result;
use crate::params::PARAMETERS;
use crate::serialization::to_bytes;
#[cfg(feature = "client")]
use crate::{error::ModelError, serialization::from_bytes};
#[cfg(feature = "server")]
use crate::{params::MAX_DEGREE, serialization::from_bytes_conformant};

/// Largest serialized client key accepted (the real one is about 24 KiB).
#[cfg(feature = "client")]
pub const MAX_CLIENT_KEY_BYTES: u64 = 1 << 20;
/// Largest compressed server key accepted (the real one is about 30 MB).
pub const MAX_COMPRESSED_SERVER_KEY_BYTES: u64 = 48 << 20;

/// The user's secret key. It **must not** leave the client: whoever holds it can decrypt every
/// row and result encrypted for it. Deliberately not `Debug`-printable, `Clone` or `Serialize`;
/// [`ClientKey::to_bytes`] exists for storing it locally.
#[cfg(feature = "client")]
pub struct ClientKey {
    pub(crate) inner: shortint::ClientKey,
}

#[cfg(feature = "client")]
impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey(<secret>)")
    }
}

#[cfg(feature = "client")]
impl ClientKey {
    /// Generates a fresh secret key (uses the platform's entropy: the OS, or the browser's
    /// `crypto.getRandomValues` on wasm32).
    pub fn generate() -> Self {
        Self {
            inner: shortint::ClientKey::new(PARAMETERS),
        }
    }

    /// Derives the public evaluation key to upload to the server. Compressed: the random masks
    /// are replaced by a seed, so it is about half the size of the expanded key.
    pub fn compressed_server_key(&self) -> CompressedServerKey {
        self.compressed_server_key_with_progress(&mut |_| {})
    }

    /// [`ClientKey::compressed_server_key`], calling `progress` with the fraction of the work
    /// done (rising, ending at exactly 1.0) as it goes: the browser shows it during the seconds
    /// key generation takes.
    ///
    /// The key is what `shortint::CompressedServerKey::new` makes (the same parts, seeds and
    /// forks of the random generators, so the server decompresses it the same way), built with
    /// tfhe's core algorithms a chunk at a time, in parallel within a chunk where rayon has
    /// threads: the bootstrapping key (one GGSW ciphertext per small-key bit) by
    /// `client::bootstrap_key`, which is tfhe's with exact NTT products, then the
    /// key-switching key (see below). `progress` is called between chunks on the calling
    /// thread only (in the browser a JavaScript callback cannot be called from rayon's other
    /// threads).
    pub fn compressed_server_key_with_progress(&self, progress: &mut dyn FnMut(f64)) -> CompressedServerKey {
        use tfhe::core_crypto::commons::math::random::{CompressionSeed, RandomGenerator};
        use tfhe::core_crypto::prelude::*;
        use tfhe::shortint::atomic_pattern::compressed::{
            CompressedAtomicPatternServerKey, CompressedStandardAtomicPatternServerKey,
        };
        use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;
        use tfhe::shortint::parameters::ModulusSwitchType;
        use tfhe::shortint::server_key::{CompressedModulusSwitchConfiguration, ShortintCompressedBootstrappingKey};

        use crate::client::seeded::{MaskStream, encrypt_lwe_bodies};

        let params = PARAMETERS;
        // A client key of other parameters cannot be built (`generate` and `from_bytes` check),
        // so the atomic pattern is the standard one and the modulus switch needs no key.
        let AtomicPatternClientKey::Standard(standard) = self.inner.atomic_pattern.clone() else {
            unreachable!("Blindfold's parameters use the standard atomic pattern");
        };
        let modulus_switch = match params.modulus_switch_noise_reduction_params {
            ModulusSwitchType::Standard => CompressedModulusSwitchConfiguration::Standard,
            ModulusSwitchType::CenteredMeanNoiseReduction => {
                CompressedModulusSwitchConfiguration::CenteredMeanNoiseReduction
            }
            ModulusSwitchType::DriftTechniqueNoiseReduction(_) => {
                unreachable!("Blindfold's parameters need no modulus-switch noise reduction key")
            }
        };
        let (glwe_secret_key, small_secret_key, _, _) = standard.into_raw_parts();
        let large_secret_key = glwe_secret_key.as_lwe_secret_key();
        let mut seeder = new_seeder();

        // Work is counted in mask elements drawn and multiplied by the secret key: a GGSW of the
        // bootstrapping key encrypts (k+1)·levels GLWE ciphertexts of k·N elements (each
        // element weighing BSK_WORK_PER_ELEMENT for the NTT product and the noise), a block of
        // the key-switching key `ks_level` LWE ciphertexts of n elements. The weights make the
        // fraction track time.
        let k = params.glwe_dimension.0;
        let big_n = params.polynomial_size.0;
        let ggsw_work = ((k + 1) * params.pbs_level.0 * k * big_n) as f64 * BSK_WORK_PER_ELEMENT;
        let block_work = (params.ks_level.0 * params.lwe_dimension.0) as f64;
        let ggsws = params.lwe_dimension.0;
        let blocks = k * big_n;
        let total = ggsw_work * ggsws as f64 + block_work * blocks as f64;
        progress(0.0);

        let bsk = crate::client::bootstrap_key::generate_seeded_bootstrap_key(
            &small_secret_key,
            &glwe_secret_key,
            seeder.seed().into(),
            seeder.seed(),
            ggsws.div_ceil(PROGRESS_STEPS_PER_PART),
            &mut |ggsws_done| {
                progress(ggsw_work * ggsws_done as f64 / total);
            },
        );
        let mut done = ggsw_work * ggsws as f64;

        // The key-switching key: for each bit of the large key, `ks_level` seeded LWE encryptions
        // under the small key of its decomposition terms (`bit · 2^(64 − base_log·level)`, level
        // `ks_level` first), all from one seeded stream in order — tfhe's
        // `generate_seeded_lwe_keyswitch_key`, except that each chunk is encrypted in parallel
        // and each mask read at once ([`crate::client::seeded`]: the stream is forked at each
        // ciphertext's place, so the masks are those the sequential one draws, and that the
        // server regenerates).
        assert!(params.ciphertext_modulus.is_native_modulus());
        let ksk_seed: CompressionSeed = seeder.seed().into();
        let mut ksk = SeededLweKeyswitchKey::new(
            0u64,
            params.ks_base_log,
            params.ks_level,
            large_secret_key.lwe_dimension(),
            small_secret_key.lwe_dimension(),
            ksk_seed.clone(),
            params.ciphertext_modulus,
        );
        let mut masks = MaskStream::new(ksk_seed.inner.clone());
        let mut noise = RandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
        let levels = params.ks_level.0;
        let chunk = blocks.div_ceil(PROGRESS_STEPS_PER_PART);
        let mut blocks_done = 0;
        for (bits, bodies) in large_secret_key
            .as_ref()
            .chunks(chunk)
            .zip(ksk.as_mut().chunks_mut(chunk * levels))
        {
            let plaintexts: Vec<u64> = bits
                .iter()
                .flat_map(|&bit| {
                    (1..=levels)
                        .rev()
                        .map(move |level| bit << (64 - params.ks_base_log.0 * level))
                })
                .collect();
            encrypt_lwe_bodies(
                bodies,
                &plaintexts,
                small_secret_key.as_ref(),
                &mut masks,
                &mut noise,
                params.lwe_noise_distribution,
            );
            done += block_work * bits.len() as f64;
            blocks_done += bits.len();
            // Exactly 1.0 at the end, whatever the rounding of the sum.
            progress(if blocks_done == blocks {
                1.0
            } else {
                (done / total).min(1.0)
            });
        }

        let ap = CompressedStandardAtomicPatternServerKey::from_raw_parts(
            ksk,
            ShortintCompressedBootstrappingKey::Classic {
                bsk,
                modulus_switch_noise_reduction_key: modulus_switch,
            },
            params.encryption_key_choice.into(),
        );
        CompressedServerKey {
            inner: shortint::CompressedServerKey::from_raw_parts(
                CompressedAtomicPatternServerKey::Standard(ap),
                params.message_modulus,
                params.carry_modulus,
                // As `CompressedServerKey::new`: every value of a block's message and carry.
                MaxDegree::new(params.message_modulus.0 * params.carry_modulus.0 - 1),
                params.max_noise_level,
            ),
        }
    }

    /// Serializes the secret key for local storage (a 0600 file, IndexedDB).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(
            &ClientKeyFile {
                key: self.inner.clone(),
            },
            MAX_CLIENT_KEY_BYTES,
        )
    }

    /// Reads a key written by [`ClientKey::to_bytes`]; refuses keys of other parameters.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let file: ClientKeyFile = from_bytes(bytes, MAX_CLIENT_KEY_BYTES, "client key")?;
        let inner = file.key;
        if inner.parameters() != PARAMETERS.into() {
            return Err(ModelError::WrongParameters {
                what: "client key",
                detail: "not generated for this build's parameter set".into(),
            });
        }
        Ok(Self { inner })
    }
}

/// Progress reports per part of the compressed server key (bootstrapping key, key-switching
/// key): enough for a smooth bar, few enough that each chunk keeps every thread busy.
#[cfg(feature = "client")]
const PROGRESS_STEPS_PER_PART: usize = 24;

/// What one GLWE mask element of the bootstrapping key costs in LWE mask elements of the
/// key-switching key (its share of the NTT product with the secret polynomial, and a noise
/// sample): measured in the browser worker's single-threaded module (Node.js), the
/// bootstrapping key takes about 53% of the time for a third of the elements. With it the
/// fraction reported tracks the time where the user watches it; both parts are spread over
/// rayon's threads alike, so it does with more threads too.
#[cfg(feature = "client")]
const BSK_WORK_PER_ELEMENT: f64 = 2.25;

/// The stored form of a [`ClientKey`].
#[cfg(feature = "client")]
#[derive(Serialize, Deserialize, Versionize)]
#[versionize(ClientKeyFileVersions)]
struct ClientKeyFile {
    key: shortint::ClientKey,
}

#[cfg(feature = "client")]
#[derive(VersionsDispatch)]
#[allow(dead_code)]
enum ClientKeyFileVersions {
    V0(ClientKeyFile),
}

#[cfg(feature = "client")]
impl Named for ClientKeyFile {
    const NAME: &'static str = "blindfold::ClientKey";
}

/// Public evaluation key, compressed for transport and storage. Safe to publish: it lets its
/// holder compute on ciphertexts, never decrypt them.
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(CompressedServerKeyVersions)]
pub struct CompressedServerKey {
    inner: shortint::CompressedServerKey,
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub enum CompressedServerKeyVersions {
    V0(CompressedServerKey),
}

impl std::fmt::Debug for CompressedServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompressedServerKey")
    }
}

impl Named for CompressedServerKey {
    const NAME: &'static str = "blindfold::CompressedServerKey";
}

impl ParameterSetConformant for CompressedServerKey {
    type ParameterSet = (AtomicPatternParameters, MaxDegree);

    fn is_conformant(&self, parameters: &Self::ParameterSet) -> bool {
        self.inner.is_conformant(parameters)
    }
}

impl CompressedServerKey {
    /// Serializes the key for upload.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self, MAX_COMPRESSED_SERVER_KEY_BYTES)
    }
}

#[cfg(feature = "server")]
impl CompressedServerKey {
    /// Reads an uploaded key, checking type, version, size and that every parameter
    /// (dimensions, decomposition, moduli, degree and noise limits) is Blindfold's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let parameters = (PARAMETERS.into(), MaxDegree::new(MAX_DEGREE));
        from_bytes_conformant(bytes, MAX_COMPRESSED_SERVER_KEY_BYTES, "server key", &parameters)
    }

    /// Expands the key for evaluation (regenerates the masks from their seeds and converts the
    /// bootstrapping key to the Fourier domain: about a second of CPU, so cache the result).
    pub fn decompress(&self) -> ServerKey {
        ServerKey {
            inner: self.inner.decompress(),
        }
    }
}

/// Expanded evaluation key, ready for [`crate::server::evaluate`].
#[cfg(feature = "server")]
#[derive(Clone)]
pub struct ServerKey {
    pub(crate) inner: shortint::ServerKey,
}

#[cfg(feature = "server")]
impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey")
    }
}

#[cfg(feature = "server")]
impl ServerKey {
    /// Approximate memory this key occupies, for cache budgets.
    pub fn memory_bytes(&self) -> usize {
        // Fourier bootstrapping key (n * (k+1)^2 * level * N/2 complex f64) + keyswitch key.
        let n = PARAMETERS.lwe_dimension.0;
        let k1 = PARAMETERS.glwe_dimension.0 + 1;
        let big_n = PARAMETERS.polynomial_size.0;
        let bsk = n * k1 * k1 * PARAMETERS.pbs_level.0 * (big_n / 2) * 16;
        let ksk = k1.saturating_sub(1) * big_n * PARAMETERS.ks_level.0 * (n + 1) * 8;
        bsk + ksk
    }
}

#[cfg(all(test, feature = "client", feature = "server"))]
mod tests {
    use super::*;
    use tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128;

    #[test]
    fn progress_tracks_the_work_and_the_key_evaluates() {
        let client = ClientKey::generate();
        let started = std::time::Instant::now();
        let mut reports = Vec::new();
        let key = client.compressed_server_key_with_progress(&mut |f| reports.push((f, started.elapsed())));
        let fractions: Vec<f64> = reports.iter().map(|(f, _)| *f).collect();
        assert_eq!(fractions.first(), Some(&0.0));
        assert_eq!(fractions.last(), Some(&1.0));
        assert!(fractions.windows(2).all(|w| w[0] < w[1]), "{fractions:?}");
        assert!(fractions.len() > 2 * PROGRESS_STEPS_PER_PART - 2, "{fractions:?}");
        // The fraction tracks time: halfway through the work is about halfway through the time.
        let total = reports.last().unwrap().1.as_secs_f64();
        let half = reports.iter().find(|(f, _)| *f >= 0.5).unwrap();
        eprintln!("half the work at {:.2} of the time", half.1.as_secs_f64() / total);

        // The key passes the server's checks, decompresses, and bootstraps (key switch and
        // PBS) exactly.
        let server = CompressedServerKey::from_bytes(&key.to_bytes()).unwrap().decompress();
        let lut = server.inner.generate_lookup_table(|x| (3 * x + 1) % 16);
        for m in 0..PARAMETERS.message_modulus.0 {
            let ct = client.inner.encrypt(m);
            let out = server.inner.apply_lookup_table(&ct, &lut);
            assert_eq!(client.inner.decrypt_message_and_carry(&out), (3 * m + 1) % 16);
        }
    }

    /// The key-switching key, decompressed by tfhe-rs (what the server does): its ciphertext
    /// for level `l` of large-key bit `b` decrypts under the small key to `b · 2^(64 − base_log·l)`
    /// plus TUniform noise. Masks other than tfhe's for its seed would leave uniform errors.
    #[test]
    fn the_key_switching_key_is_tfhes_up_to_the_noise() {
        use tfhe::core_crypto::prelude::{ContiguousEntityContainer, DynamicDistribution};
        use tfhe::shortint::atomic_pattern::compressed::CompressedAtomicPatternServerKey;
        use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;

        use crate::client::seeded::{assert_noise_within, lwe_errors};

        let client = ClientKey::generate();
        let AtomicPatternClientKey::Standard(standard) = client.inner.atomic_pattern.clone() else {
            unreachable!("the standard atomic pattern");
        };
        let (glwe, small, _, _) = standard.into_raw_parts();
        let (compressed, ..) = client.compressed_server_key().inner.into_raw_parts();
        let CompressedAtomicPatternServerKey::Standard(compressed) = compressed else {
            unreachable!("the standard atomic pattern");
        };
        let ksk = compressed
            .key_switching_key()
            .clone()
            .decompress_into_lwe_keyswitch_key();
        let (levels, base_log) = (PARAMETERS.ks_level.0, PARAMETERS.ks_base_log.0);
        let plaintexts = glwe
            .as_lwe_secret_key()
            .as_ref()
            .iter()
            .flat_map(|&bit| (1..=levels).rev().map(move |level| bit << (64 - base_log * level)))
            .collect::<Vec<_>>();
        assert_eq!(plaintexts.len(), ksk.as_lwe_ciphertext_list().lwe_ciphertext_count().0);
        let DynamicDistribution::TUniform(noise) = PARAMETERS.lwe_noise_distribution else {
            panic!("the parameters' LWE noise is TUniform");
        };
        let errors = lwe_errors(ksk.as_lwe_ciphertext_list().iter(), plaintexts, small.as_ref());
        assert_noise_within(&errors, 1i64 << noise.bound_log2());
    }

    /// The browser draws its masks with the software AES of the patched tfhe-csprng
    /// (vendor/tfhe-csprng), the server regenerates them with the native one: both must give
    /// the same bytes, for both kinds of seed, across batch boundaries and in forked children.
    #[test]
    fn software_aes_generator_matches_the_native_one() {
        use tfhe_csprng::generators::{
            BytesPerChild, ChildrenCount, DefaultRandomGenerator, RandomGenerator, SoftwareRandomGenerator,
        };
        use tfhe_csprng::seeders::{Seed, XofSeed};

        fn draw(generator: &mut impl RandomGenerator, bytes: usize) -> Vec<u8> {
            (0..bytes).map(|_| generator.next().unwrap()).collect()
        }
        fn stream<G: RandomGenerator>(mut generator: G) -> Vec<Vec<u8>> {
            // A start that is not a whole batch (8 blocks of 16 bytes), then forks.
            let mut out = vec![draw(&mut generator, 1000)];
            let children: Vec<G> = generator
                .try_fork(ChildrenCount(3), BytesPerChild(4099))
                .unwrap()
                .collect();
            for mut child in children {
                out.push(draw(&mut child, 4099));
            }
            out.push(draw(&mut generator, 70_000));
            out
        }

        assert_ne!(
            std::any::type_name::<DefaultRandomGenerator>(),
            std::any::type_name::<SoftwareRandomGenerator>(),
            "the native build must use hardware AES for this check to mean anything"
        );
        let seed = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
        let software = stream(SoftwareRandomGenerator::new(Seed(seed)));
        assert_eq!(software, stream(DefaultRandomGenerator::new(Seed(seed))));
        assert_ne!(software, stream(SoftwareRandomGenerator::new(Seed(seed + 1))));
        let xof = || XofSeed::new_u128(seed, *b"blindfld");
        assert_eq!(
            stream(SoftwareRandomGenerator::new(xof())),
            stream(DefaultRandomGenerator::new(xof()))
        );

        // The patch's bulk read gives the same bytes in slices of any length, and stops where a
        // child's share ends.
        let mut bulk = SoftwareRandomGenerator::new(Seed(seed));
        let mut head = vec![0u8; 1000];
        assert_eq!(bulk.fill_bytes(&mut head[..7]), 7);
        assert_eq!(bulk.fill_bytes(&mut head[7..]), 993);
        assert_eq!(head, software[0]);
        for (child, expected) in bulk
            .try_fork(ChildrenCount(3), BytesPerChild(4099))
            .unwrap()
            .zip(&software[1..4])
        {
            let mut child = child;
            let mut bytes = vec![0u8; 5000];
            assert_eq!(child.fill_bytes(&mut bytes), 4099, "a child stops at its share");
            assert_eq!(&bytes[..4099], expected.as_slice());
            assert_eq!(child.fill_bytes(&mut bytes), 0, "and stays spent");
            assert_eq!(child.next(), None);
        }
        // Slices around the batch's 128 bytes, with single bytes in between: each read ends
        // where the next one starts.
        let mut tail = Vec::with_capacity(70_000);
        for length in [1, 127, 128, 129, 0, 255, 256, 257, 3, 4096, 16_383]
            .into_iter()
            .cycle()
        {
            if tail.len() == 70_000 {
                break;
            }
            let mut slice = vec![0u8; length.min(70_000 - tail.len())];
            assert_eq!(bulk.fill_bytes(&mut slice), slice.len());
            tail.extend_from_slice(&slice);
            if tail.len() < 70_000 {
                tail.push(bulk.next().unwrap());
            }
        }
        assert_eq!(tail, software[4]);
    }

    #[test]
    fn a_server_key_of_other_parameters_is_refused() {
        let other = shortint::ClientKey::new(V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128);
        let key = CompressedServerKey {
            inner: shortint::CompressedServerKey::new(&other),
        };
        let result = CompressedServerKey::from_bytes(&key.to_bytes());
        assert!(
            matches!(result, Err(ModelError::WrongParameters { .. })),
            "{:?}",
            result.err()
        );

        let file = ClientKeyFile { key: other };
        let result = ClientKey::from_bytes(&to_bytes(&file, MAX_CLIENT_KEY_BYTES));
        assert!(matches!(result, Err(ModelError::WrongParameters { .. })), "{result:?}");
    }
}
