CREATE FUNCTION ledger.account_of(p_kind text, p_user uuid, p_asset text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    IF p_user IS NULL THEN
        SELECT a.id INTO v FROM ledger.accounts a WHERE a.kind = p_kind AND a.user_id IS NULL;
    ELSE
        SELECT a.id INTO v FROM ledger.accounts a WHERE a.user_id = p_user AND a.kind = p_kind;
    END IF;
    IF v IS NULL THEN
        INSERT INTO ledger.accounts (user_id, kind, asset) VALUES (p_user, p_kind, p_asset)
        ON CONFLICT DO NOTHING RETURNING id INTO v;
        IF v IS NULL THEN  -- a concurrent creator won (and committed): read its row
            SELECT a.id INTO STRICT v FROM ledger.accounts a
             WHERE a.kind = p_kind AND a.user_id IS NOT DISTINCT FROM p_user;
        END IF;
    END IF;
    RETURN v;
END
$$
