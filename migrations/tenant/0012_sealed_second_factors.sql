-- Second-factor secrets are sealed under the organisation's data keys (version, key id,
-- nonce, ciphertext and tag: 65 bytes for a 160-bit secret); Haven seals any secret an
-- earlier version stored unsealed when it starts.
ALTER TABLE user_second_factors DROP CONSTRAINT user_second_factors_secret_check;
ALTER TABLE user_second_factors ADD CONSTRAINT user_second_factors_secret_check
    CHECK (length(secret) BETWEEN 16 AND 256);
