CREATE FUNCTION ledger.slot_add(p_account bigint, p_key text, p_pd bigint, p_pc bigint,
                                p_hd bigint, p_hc bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO ledger.account_slots AS s
           (account_id, slot, posted_debits, posted_credits, pending_debits, pending_credits)
    VALUES (p_account, hashtext(p_key) & 31, p_pd, p_pc, p_hd, p_hc)
    ON CONFLICT (account_id, slot) DO UPDATE
       SET posted_debits = s.posted_debits + EXCLUDED.posted_debits,
           posted_credits = s.posted_credits + EXCLUDED.posted_credits,
           pending_debits = s.pending_debits + EXCLUDED.pending_debits,
           pending_credits = s.pending_credits + EXCLUDED.pending_credits
$$
