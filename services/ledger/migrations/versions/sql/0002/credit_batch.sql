CREATE FUNCTION ledger.credit_batch(
    p_ids text[], p_users uuid[], p_amounts bigint[], p_refs jsonb[],
    p_system_kind text, p_user_kind text, p_asset text, p_kind text
) RETURNS TABLE (o_id text, o_user_id uuid, o_amount bigint, o_created_at timestamptz,
                 o_posted bigint, o_available bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_system bigint := ledger.account_of(p_system_kind, NULL, p_asset);
    v_ids text[];
    v_accounts bigint[];
    v_amounts bigint[];
    v_created timestamptz[];
    v_users uuid[];
    v_total bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_amounts) x WHERE x IS NULL OR x <= 0) THEN
        RAISE EXCEPTION 'amount must be positive' USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO ledger.accounts (user_id, kind, asset)
    SELECT DISTINCT u, p_user_kind, p_asset FROM unnest(p_users) u
     WHERE NOT EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.user_id = u AND a.kind = p_user_kind)
     ORDER BY 1
    ON CONFLICT DO NOTHING;

    WITH ins AS (
        INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, kind,
                                      phase, pending, user_id, reference)
        SELECT i.id, v_system, a.id, i.amount, p_kind, 'single', false, i.user_id, i.reference
          FROM unnest(p_ids, p_users, p_amounts, p_refs) AS i(id, user_id, amount, reference)
          JOIN ledger.accounts a ON a.user_id = i.user_id AND a.kind = p_user_kind
         ORDER BY i.id
        ON CONFLICT DO NOTHING
        RETURNING id, credit_account_id, amount, created_at, user_id
    )
    SELECT array_agg(id ORDER BY id), array_agg(credit_account_id ORDER BY id),
           array_agg(amount ORDER BY id), array_agg(created_at ORDER BY id),
           array_agg(user_id ORDER BY id)
      INTO v_ids, v_accounts, v_amounts, v_created, v_users
      FROM ins;
    IF v_ids IS NULL THEN
        RETURN;  -- every id was already posted
    END IF;

    PERFORM 1 FROM ledger.accounts a WHERE a.id = ANY (v_accounts) ORDER BY a.id
        FOR NO KEY UPDATE;
    RETURN QUERY
    WITH created AS (
        SELECT * FROM unnest(v_ids, v_accounts, v_amounts, v_created, v_users)
                   AS c(id, account_id, amount, created_at, user_id)
    ), upd AS (
        UPDATE ledger.accounts a SET posted_credits = a.posted_credits + s.total
          FROM (SELECT c.account_id, sum(c.amount)::bigint AS total
                  FROM created c GROUP BY c.account_id) s
         WHERE a.id = s.account_id
        RETURNING a.id, s.total, a.posted_credits - a.posted_debits AS posted,
                  a.posted_credits - a.posted_debits - a.pending_debits AS available
    )
    SELECT c.id, c.user_id, c.amount, c.created_at,
           u.posted - u.total + (sum(c.amount) OVER w)::bigint,
           u.available - u.total + (sum(c.amount) OVER w)::bigint
      FROM created c JOIN upd u ON u.id = c.account_id
    WINDOW w AS (PARTITION BY c.account_id ORDER BY c.id)
     ORDER BY c.id;

    SELECT sum(x)::bigint INTO v_total FROM unnest(v_amounts) x;
    PERFORM ledger.slot_add(v_system, v_ids[1], v_total, 0, 0, 0);
END
$$
