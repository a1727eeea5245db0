//! A document's content, sealed in chunks as it streams: the STREAM construction
//! (`aead-stream`, big-endian counter and last-block flag) over XChaCha20-Poly1305 under
//! the document's own key, with the document id as associated data. Truncation,
//! reordering and splicing from another document all fail to open.
//!
//! Layout: `HVD1` ‖ 19-byte nonce prefix ‖ chunks of 64 KiB plaintext + 16-byte tag, the
//! last one shorter (possibly empty) and sealed as last.

use aead_stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{KeyInit, Payload};

pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const MAGIC: &[u8; 4] = b"HVD1";
const PREFIX: usize = 19;
pub const HEADER: usize = MAGIC.len() + PREFIX;

#[derive(Debug, thiserror::Error)]
#[error("the document's content is damaged or does not belong to it")]
pub struct Damaged;

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key).into())
}

pub struct Sealer {
    encryptor: EncryptorBE32<XChaCha20Poly1305>,
    pending: Vec<u8>,
    aad: Vec<u8>,
}

impl Sealer {
    /// A sealer and the header to write first.
    pub fn new(key: &[u8; 32], document: uuid::Uuid) -> Result<(Self, Vec<u8>), Damaged> {
        let mut prefix = [0u8; PREFIX];
        getrandom::fill(&mut prefix).map_err(|_| Damaged)?;
        let encryptor = EncryptorBE32::from_aead(cipher(key), &prefix.into());
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&prefix);
        Ok((
            Self {
                encryptor,
                pending: Vec::with_capacity(CHUNK * 2),
                aad: document.as_bytes().to_vec(),
            },
            header,
        ))
    }

    /// Seals every full chunk that is certainly not the last.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, Damaged> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        while self.pending.len() > CHUNK {
            let rest = self.pending.split_off(CHUNK);
            let chunk = std::mem::replace(&mut self.pending, rest);
            out.extend(
                self.encryptor
                    .encrypt_next(Payload {
                        msg: &chunk,
                        aad: &self.aad,
                    })
                    .map_err(|_| Damaged)?,
            );
        }
        Ok(out)
    }

    pub fn finish(self) -> Result<Vec<u8>, Damaged> {
        self.encryptor
            .encrypt_last(Payload {
                msg: &self.pending,
                aad: &self.aad,
            })
            .map_err(|_| Damaged)
    }
}

pub struct Opener {
    key: [u8; 32],
    decryptor: Option<DecryptorBE32<XChaCha20Poly1305>>,
    pending: Vec<u8>,
    aad: Vec<u8>,
}

impl Drop for Opener {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl Opener {
    pub fn new(key: &[u8; 32], document: uuid::Uuid) -> Self {
        Self {
            key: *key,
            decryptor: None,
            pending: Vec::with_capacity(CHUNK * 2),
            aad: document.as_bytes().to_vec(),
        }
    }

    /// Opens every chunk that is certainly not the last.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, Damaged> {
        self.pending.extend_from_slice(data);
        if self.decryptor.is_none() {
            if self.pending.len() < HEADER {
                return Ok(Vec::new());
            }
            if &self.pending[..MAGIC.len()] != MAGIC {
                return Err(Damaged);
            }
            let prefix: [u8; PREFIX] = self.pending[MAGIC.len()..HEADER].try_into().map_err(|_| Damaged)?;
            self.decryptor = Some(DecryptorBE32::from_aead(cipher(&self.key), &prefix.into()));
            self.pending.drain(..HEADER);
        }
        let mut out = Vec::new();
        while self.pending.len() > CHUNK + TAG {
            let rest = self.pending.split_off(CHUNK + TAG);
            let chunk = std::mem::replace(&mut self.pending, rest);
            let decryptor = self.decryptor.as_mut().ok_or(Damaged)?;
            out.extend(
                decryptor
                    .decrypt_next(Payload {
                        msg: &chunk,
                        aad: &self.aad,
                    })
                    .map_err(|_| Damaged)?,
            );
        }
        Ok(out)
    }

    pub fn finish(mut self) -> Result<Vec<u8>, Damaged> {
        let decryptor = self.decryptor.take().ok_or(Damaged)?;
        let pending = std::mem::take(&mut self.pending);
        decryptor
            .decrypt_last(Payload {
                msg: &pending,
                aad: &self.aad,
            })
            .map_err(|_| Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &[u8; 32], id: uuid::Uuid, plain: &[u8], piece: usize) -> Vec<u8> {
        let (mut sealer, mut out) = Sealer::new(key, id).unwrap();
        for part in plain.chunks(piece.max(1)) {
            out.extend(sealer.push(part).unwrap());
        }
        out.extend(sealer.finish().unwrap());
        out
    }

    fn open(key: &[u8; 32], id: uuid::Uuid, sealed: &[u8], piece: usize) -> Result<Vec<u8>, Damaged> {
        let mut opener = Opener::new(key, id);
        let mut out = Vec::new();
        for part in sealed.chunks(piece.max(1)) {
            out.extend(opener.push(part)?);
        }
        out.extend(opener.finish()?);
        Ok(out)
    }

    #[test]
    fn content_of_any_length_round_trips_in_any_pieces() {
        let key = [3u8; 32];
        let id = uuid::Uuid::from_u128(7);
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
            let plain: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let sealed = seal(&key, id, &plain, 10_000);
            assert_eq!(sealed.len(), HEADER + len + TAG * len.div_ceil(CHUNK).max(1));
            assert_eq!(open(&key, id, &sealed, 7_777).unwrap(), plain, "length {len}");
        }
    }

    #[test]
    fn truncation_tampering_and_another_documents_id_fail() {
        let key = [3u8; 32];
        let id = uuid::Uuid::from_u128(7);
        let plain = vec![42u8; 2 * CHUNK + 100];
        let sealed = seal(&key, id, &plain, CHUNK);
        assert!(!sealed.windows(64).any(|w| w == [42u8; 64]), "no plaintext runs");
        // Cut after the first full chunk: the last-block flag is missing.
        assert!(open(&key, id, &sealed[..HEADER + CHUNK + TAG], 1000).is_err());
        let mut flipped = sealed.clone();
        flipped[HEADER + 10] ^= 1;
        assert!(open(&key, id, &flipped, 1000).is_err());
        assert!(open(&key, uuid::Uuid::from_u128(8), &sealed, 1000).is_err());
        assert!(open(&[4u8; 32], id, &sealed, 1000).is_err());
    }
}
