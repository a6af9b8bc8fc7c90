CREATE FUNCTION ledger.post_transfer(
    p_id text, p_debit bigint, p_credit bigint, p_amount bigint, p_kind text, p_user uuid,
    p_reference jsonb, p_ttl_s double precision
) RETURNS TABLE (o_status text, o_amount bigint, o_created_at timestamptz,
                 o_expires_at timestamptz, o_user_id uuid, o_posted bigint, o_available bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_phase text := CASE WHEN p_ttl_s IS NULL THEN 'single' ELSE 'pending' END;
    v_expires timestamptz;
    v_created timestamptz;
    v_debit_user boolean;
    v_credit_user boolean;
    v_debit_asset text;
    v_credit_asset text;
    v_posted bigint;
    v_available bigint;
BEGIN
    IF p_amount <= 0 THEN
        RAISE EXCEPTION 'amount must be positive' USING ERRCODE = 'check_violation';
    END IF;
    IF v_phase = 'pending' AND EXISTS (SELECT 1 FROM ledger.rejections r WHERE r.id = p_id) THEN
        RETURN QUERY SELECT 'insufficient_funds', p_amount, NULL::timestamptz, NULL::timestamptz,
                            p_user, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    SELECT a.user_id IS NOT NULL, a.asset INTO STRICT v_debit_user, v_debit_asset
      FROM ledger.accounts a WHERE a.id = p_debit;
    SELECT a.user_id IS NOT NULL, a.asset INTO STRICT v_credit_user, v_credit_asset
      FROM ledger.accounts a WHERE a.id = p_credit;
    IF v_debit_user AND v_credit_user THEN
        RAISE EXCEPTION 'user-to-user transfers are not supported' USING ERRCODE = 'P0001';
    END IF;
    IF v_debit_asset <> v_credit_asset THEN
        RAISE EXCEPTION 'transfer mixes assets' USING ERRCODE = 'check_violation';
    END IF;
    IF v_phase = 'pending' THEN
        v_expires := now() + make_interval(secs => p_ttl_s);
    END IF;

    IF v_debit_user THEN
        -- Guarded debit. A redelivery is recognised first; then the guarded single-statement
        -- UPDATE (at READ COMMITTED a blocked updater re-evaluates the guard on the newest row
        -- version: no read-check-write); only then the journal row. A concurrent posting of the
        -- same id queues on the same user row, so its insert finds our id: it undoes its own
        -- debit (same transaction) and answers `duplicate`.
        IF EXISTS (SELECT 1 FROM ledger.transfers t WHERE t.id = p_id) THEN
            RETURN QUERY SELECT 'duplicate', t.amount, t.created_at, t.expires_at, t.user_id,
                                NULL::bigint, NULL::bigint
                           FROM ledger.transfers t WHERE t.id = p_id;
            RETURN;
        END IF;
        IF v_phase = 'pending' THEN
            UPDATE ledger.accounts a SET pending_debits = a.pending_debits + p_amount
             WHERE a.id = p_debit
               AND a.posted_credits - a.posted_debits - a.pending_debits >= p_amount
            RETURNING a.posted_credits - a.posted_debits,
                      a.posted_credits - a.posted_debits - a.pending_debits
                 INTO v_posted, v_available;
        ELSE
            UPDATE ledger.accounts a SET posted_debits = a.posted_debits + p_amount
             WHERE a.id = p_debit
               AND a.posted_credits - a.posted_debits - a.pending_debits >= p_amount
            RETURNING a.posted_credits - a.posted_debits,
                      a.posted_credits - a.posted_debits - a.pending_debits
                 INTO v_posted, v_available;
        END IF;
        IF NOT FOUND THEN
            IF EXISTS (SELECT 1 FROM ledger.transfers t WHERE t.id = p_id) THEN
                RETURN QUERY SELECT 'duplicate', t.amount, t.created_at, t.expires_at, t.user_id,
                                    NULL::bigint, NULL::bigint
                               FROM ledger.transfers t WHERE t.id = p_id;
                RETURN;
            END IF;
            IF v_phase = 'pending' THEN
                INSERT INTO ledger.rejections (id, reason, user_id)
                VALUES (p_id, 'insufficient_funds', p_user) ON CONFLICT DO NOTHING;
            END IF;
            RETURN QUERY SELECT 'insufficient_funds', p_amount, NULL::timestamptz,
                                NULL::timestamptz, p_user, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, kind,
                                      phase, pending, user_id, expires_at, reference)
        VALUES (p_id, p_debit, p_credit, p_amount, p_kind, v_phase, v_phase = 'pending', p_user,
                v_expires, p_reference)
        ON CONFLICT DO NOTHING RETURNING created_at INTO v_created;
        IF v_created IS NULL THEN
            IF v_phase = 'pending' THEN
                UPDATE ledger.accounts a SET pending_debits = a.pending_debits - p_amount
                 WHERE a.id = p_debit;
            ELSE
                UPDATE ledger.accounts a SET posted_debits = a.posted_debits - p_amount
                 WHERE a.id = p_debit;
            END IF;
            RETURN QUERY SELECT 'duplicate', t.amount, t.created_at, t.expires_at, t.user_id,
                                NULL::bigint, NULL::bigint
                           FROM ledger.transfers t WHERE t.id = p_id;
            RETURN;
        END IF;
    ELSE
        -- Unguarded debit (a system account): the journal row first, so a redelivery stops here.
        INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, kind,
                                      phase, pending, user_id, expires_at, reference)
        VALUES (p_id, p_debit, p_credit, p_amount, p_kind, v_phase, v_phase = 'pending', p_user,
                v_expires, p_reference)
        ON CONFLICT DO NOTHING RETURNING created_at INTO v_created;
        IF v_created IS NULL THEN
            RETURN QUERY SELECT 'duplicate', t.amount, t.created_at, t.expires_at, t.user_id,
                                NULL::bigint, NULL::bigint
                           FROM ledger.transfers t WHERE t.id = p_id;
            RETURN;
        END IF;
        IF v_credit_user THEN
            IF v_phase = 'pending' THEN
                UPDATE ledger.accounts a SET pending_credits = a.pending_credits + p_amount
                 WHERE a.id = p_credit
                RETURNING a.posted_credits - a.posted_debits,
                          a.posted_credits - a.posted_debits - a.pending_debits
                     INTO v_posted, v_available;
            ELSE
                UPDATE ledger.accounts a SET posted_credits = a.posted_credits + p_amount
                 WHERE a.id = p_credit
                RETURNING a.posted_credits - a.posted_debits,
                          a.posted_credits - a.posted_debits - a.pending_debits
                     INTO v_posted, v_available;
            END IF;
        END IF;
    END IF;

    -- System accounts last, in ascending account id: one slot row each.
    IF NOT v_debit_user AND NOT v_credit_user AND p_credit < p_debit THEN
        PERFORM ledger.slot_add(p_credit, p_id, 0, CASE WHEN v_phase = 'single' THEN p_amount
                                ELSE 0 END, 0, CASE WHEN v_phase = 'pending' THEN p_amount
                                ELSE 0 END);
        PERFORM ledger.slot_add(p_debit, p_id, CASE WHEN v_phase = 'single' THEN p_amount
                                ELSE 0 END, 0, CASE WHEN v_phase = 'pending' THEN p_amount
                                ELSE 0 END, 0);
    ELSE
        IF NOT v_debit_user THEN
            PERFORM ledger.slot_add(p_debit, p_id, CASE WHEN v_phase = 'single' THEN p_amount
                                    ELSE 0 END, 0, CASE WHEN v_phase = 'pending' THEN p_amount
                                    ELSE 0 END, 0);
        END IF;
        IF NOT v_credit_user THEN
            PERFORM ledger.slot_add(p_credit, p_id, 0, CASE WHEN v_phase = 'single' THEN p_amount
                                    ELSE 0 END, 0, CASE WHEN v_phase = 'pending' THEN p_amount
                                    ELSE 0 END);
        END IF;
    END IF;
    RETURN QUERY SELECT 'created', p_amount, v_created, v_expires, p_user, v_posted, v_available;
END
$$
