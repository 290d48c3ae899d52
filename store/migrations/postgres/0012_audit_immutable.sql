-- The audit log is append-only: nobody edits history, not even the program.
CREATE FUNCTION fulfill_audit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log cannot be edited'; END $$;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION fulfill_audit_immutable();
