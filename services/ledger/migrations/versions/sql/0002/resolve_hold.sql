CREATE FUNCTION ledger.resolve_hold(p_hold text, p_id text, p_phase text, p_kind text)
RETURNS TABLE (o_status text, o_amount bigint, o_created_at timestamptz, o_user_id uuid,
               o_resolved_by text)
LANGUAGE plpgsql AS $$
DECLARE
    v_amount bigint;
    v_debit bigint;
    v_credit bigint;
    v_created timestamptz;
    v_user uuid;
    v_post boolean := p_phase = 'post';
    v_debit_user boolean;
    v_credit_user boolean;
    v_winner text;
BEGIN
    IF p_phase NOT IN ('post', 'void', 'expire') THEN
        RAISE EXCEPTION 'not a resolution phase: %', p_phase USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, kind, phase,
                                  pending, user_id, pending_id, reference)
    SELECT p_id, h.debit_account_id, h.credit_account_id, h.amount, p_kind, p_phase, false,
           h.user_id, h.id, h.reference
      FROM ledger.transfers h
     WHERE h.id = p_hold AND h.phase = 'pending'
       AND (p_phase = 'void'
            OR (p_phase = 'post' AND h.expires_at > now())
            OR (p_phase = 'expire' AND h.expires_at <= now()))
    ON CONFLICT DO NOTHING
    RETURNING amount, debit_account_id, credit_account_id, created_at, user_id
         INTO v_amount, v_debit, v_credit, v_created, v_user;
    IF v_created IS NOT NULL THEN
        SELECT a.user_id IS NOT NULL INTO STRICT v_debit_user
          FROM ledger.accounts a WHERE a.id = v_debit;
        SELECT a.user_id IS NOT NULL INTO STRICT v_credit_user
          FROM ledger.accounts a WHERE a.id = v_credit;
        -- user rows first (unguarded: a capture keeps `available`, a release raises it) ...
        IF v_debit_user THEN
            UPDATE ledger.accounts a
               SET pending_debits = a.pending_debits - v_amount,
                   posted_debits = a.posted_debits + CASE WHEN v_post THEN v_amount ELSE 0 END
             WHERE a.id = v_debit;
        END IF;
        IF v_credit_user THEN
            UPDATE ledger.accounts a
               SET pending_credits = a.pending_credits - v_amount,
                   posted_credits = a.posted_credits + CASE WHEN v_post THEN v_amount ELSE 0 END
             WHERE a.id = v_credit;
        END IF;
        -- ... then system slots, in the slot the hold used (keyed by the hold's id)
        IF NOT v_debit_user AND NOT v_credit_user AND v_credit < v_debit THEN
            PERFORM ledger.slot_add(v_credit, p_hold, 0,
                                    CASE WHEN v_post THEN v_amount ELSE 0 END, 0, -v_amount);
            PERFORM ledger.slot_add(v_debit, p_hold, CASE WHEN v_post THEN v_amount ELSE 0 END,
                                    0, -v_amount, 0);
        ELSE
            IF NOT v_debit_user THEN
                PERFORM ledger.slot_add(v_debit, p_hold,
                                        CASE WHEN v_post THEN v_amount ELSE 0 END, 0,
                                        -v_amount, 0);
            END IF;
            IF NOT v_credit_user THEN
                PERFORM ledger.slot_add(v_credit, p_hold, 0,
                                        CASE WHEN v_post THEN v_amount ELSE 0 END, 0,
                                        -v_amount);
            END IF;
        END IF;
        RETURN QUERY SELECT 'created', v_amount, v_created, v_user, NULL::text;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM ledger.transfers t WHERE t.id = p_id) THEN
        RETURN QUERY SELECT 'duplicate', t.amount, t.created_at, t.user_id, NULL::text
                       FROM ledger.transfers t WHERE t.id = p_id;
        RETURN;
    END IF;
    SELECT t.phase INTO v_winner FROM ledger.transfers t WHERE t.pending_id = p_hold;
    IF v_winner IS NOT NULL THEN
        RETURN QUERY SELECT 'already_resolved', 0::bigint, NULL::timestamptz, NULL::uuid,
                            v_winner;
        RETURN;
    END IF;
    SELECT t.amount INTO v_amount FROM ledger.transfers t
     WHERE t.id = p_hold AND t.phase = 'pending';
    IF v_amount IS NULL THEN
        RETURN QUERY SELECT 'not_found', 0::bigint, NULL::timestamptz, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    -- a post after expiry, or an expire before it: nothing changes
    RETURN QUERY SELECT CASE WHEN v_post THEN 'expired' ELSE 'not_due' END, v_amount,
                        NULL::timestamptz, NULL::uuid, NULL::text;
END
$$
