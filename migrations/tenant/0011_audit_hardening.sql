-- Checkpoints and archive records are written once and never changed, and the chain's
-- head moves only when an event extends the chain (through audit_extend_chain). A
-- database owner can still drop these triggers; what stops a rewritten history from
-- verifying is that checkpoints count only when signed by a key the installation trusts
-- and archives only with their files and signed checkpoints (docs/audit.md).

CREATE FUNCTION audit_refuse_rewrite() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% is written once: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'HV002';
END $$;

CREATE FUNCTION audit_head_only_by_the_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    -- Depth 1 is a statement on audit_head itself; the chain's trigger runs it at depth 2.
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'the audit head moves only when an event extends the chain'
            USING ERRCODE = 'HV002';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_checkpoints_write_once BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_rewrite();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_rewrite();
CREATE TRIGGER audit_archives_write_once BEFORE UPDATE OR DELETE ON audit_archives
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_rewrite();
CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_rewrite();
CREATE TRIGGER audit_head_moves_with_the_chain BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_only_by_the_chain();

ALTER FUNCTION audit_refuse_rewrite() OWNER TO haven_owner;
ALTER FUNCTION audit_head_only_by_the_chain() OWNER TO haven_owner;
