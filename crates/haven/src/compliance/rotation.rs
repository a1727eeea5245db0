//! Key rotation: `haven keys rotate`.
