-- Haven keeps verified API tokens for a few seconds (identity::token_cache). Every change
-- that could end or narrow what a token may do notifies the cache's listeners, in every
-- Haven instance, when it commits. Statement triggers: one notification per statement.
CREATE FUNCTION notify_identity_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('haven_identity_changed', '');
    RETURN NULL;
END;
$$;

-- Revocation, expiry and scopes; not `last_used_at`, which every use touches.
CREATE TRIGGER api_tokens_changed AFTER UPDATE OF revoked_at, expires_at, scopes, user_id, token_hash OR DELETE
ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION notify_identity_changed();
-- Status, password, name, supervisor, trainee flag: anything of the owner's.
CREATE TRIGGER users_changed AFTER UPDATE OR DELETE
ON users FOR EACH STATEMENT EXECUTE FUNCTION notify_identity_changed();
CREATE TRIGGER user_roles_changed AFTER INSERT OR UPDATE OR DELETE
ON user_roles FOR EACH STATEMENT EXECUTE FUNCTION notify_identity_changed();
CREATE TRIGGER user_second_factors_changed AFTER INSERT OR UPDATE OR DELETE
ON user_second_factors FOR EACH STATEMENT EXECUTE FUNCTION notify_identity_changed();
