"""Fast postings: slotted system-account balances and one PL/pgSQL function per posting kind.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

- `account_slots`: a system account's movements land in one of `SLOTS` partial-sum rows
  (`hashtext(transfer or hold id) & (SLOTS - 1)`), so postings crediting or debiting the same
  system account (every `MiningCompleted` debits `mining_issuance`) no longer queue on one row
  lock. A slot row holds deltas (a release in another slot than its hold may go negative); the
  account's balance is its `accounts` row plus the sum of its slots (view `account_balances`).
  System accounts are unlimited and never guarded, so nothing ever needs to read that sum inside
  a posting. User accounts keep being updated in place, guarded.
- `ledger.account_of`, `ledger.post_transfer`, `ledger.resolve_hold`, `ledger.credit_batch`: one
  round trip per posting (and per batch of credits). Lock order everywhere: transfer id (unique
  index) → user account rows in ascending id → system slots in ascending (account id, slot).

Downgrade folds every slot back into its account row, then drops the functions, view and table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 32  # a power of two: the slot is `hashtext(id) & (SLOTS - 1)`

_ACCOUNT_OF = """
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
"""

_SLOT_ADD = f"""
CREATE FUNCTION ledger.slot_add(p_account bigint, p_key text, p_pd bigint, p_pc bigint,
                                p_hd bigint, p_hc bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO ledger.account_slots AS s
           (account_id, slot, posted_debits, posted_credits, pending_debits, pending_credits)
    VALUES (p_account, hashtext(p_key) & {SLOTS - 1}, p_pd, p_pc, p_hd, p_hc)
    ON CONFLICT (account_id, slot) DO UPDATE
       SET posted_debits = s.posted_debits + EXCLUDED.posted_debits,
           posted_credits = s.posted_credits + EXCLUDED.posted_credits,
           pending_debits = s.pending_debits + EXCLUDED.pending_debits,
           pending_credits = s.pending_credits + EXCLUDED.pending_credits
$$
"""  # noqa: S608 (SLOTS is a constant)

# One single-phase transfer or hold. Returns the user account's posted and available balance
# after it (NULL when no user account is touched).
_POST_TRANSFER = """
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
"""

# Post (capture), void or expire a hold, exactly once (the partial unique index on pending_id).
_RESOLVE_HOLD = """
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
"""

# Many single-phase credits from one system account to user accounts, in one statement per step:
# accounts created on first use, the journal in one INSERT (ascending id, ON CONFLICT DO NOTHING:
# redelivered and in-batch duplicate ids are skipped), the credited user rows locked in ascending
# id and updated once each with their sum, then ONE slot update of the system account. Returns
# each created transfer with its user account's posted/available balance right after it.
_CREDIT_BATCH = """
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
"""

_BALANCES_VIEW = """
CREATE VIEW ledger.account_balances AS
SELECT a.id, a.user_id, a.kind, a.asset,
       a.posted_debits + COALESCE(s.posted_debits, 0) AS posted_debits,
       a.posted_credits + COALESCE(s.posted_credits, 0) AS posted_credits,
       a.pending_debits + COALESCE(s.pending_debits, 0) AS pending_debits,
       a.pending_credits + COALESCE(s.pending_credits, 0) AS pending_credits
  FROM ledger.accounts a
  LEFT JOIN (SELECT account_id, sum(posted_debits)::bigint AS posted_debits,
                    sum(posted_credits)::bigint AS posted_credits,
                    sum(pending_debits)::bigint AS pending_debits,
                    sum(pending_credits)::bigint AS pending_credits
               FROM ledger.account_slots GROUP BY account_id) s ON s.account_id = a.id
"""


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE ledger.account_slots (
            account_id      bigint NOT NULL REFERENCES ledger.accounts (id),
            slot            smallint NOT NULL,
            posted_debits   bigint NOT NULL DEFAULT 0,
            posted_credits  bigint NOT NULL DEFAULT 0,
            pending_debits  bigint NOT NULL DEFAULT 0,
            pending_credits bigint NOT NULL DEFAULT 0,
            CONSTRAINT account_slots_pkey PRIMARY KEY (account_id, slot),
            CONSTRAINT account_slots_slot_check CHECK (slot >= 0 AND slot < {SLOTS})
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE ledger.account_slots IS 'partial sums (deltas) of system accounts;"
        " balance = accounts row + sum of its slots (view account_balances)'"
    )
    op.execute(_BALANCES_VIEW)
    op.execute(_ACCOUNT_OF)
    op.execute(_SLOT_ADD)
    op.execute(_POST_TRANSFER)
    op.execute(_RESOLVE_HOLD)
    op.execute(_CREDIT_BATCH)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION ledger.credit_batch(text[], uuid[], bigint[], jsonb[], text, text, text,"
        " text)"
    )
    op.execute("DROP FUNCTION ledger.resolve_hold(text, text, text, text)")
    op.execute(
        "DROP FUNCTION ledger.post_transfer(text, bigint, bigint, bigint, text, uuid, jsonb,"
        " double precision)"
    )
    op.execute("DROP FUNCTION ledger.slot_add(bigint, text, bigint, bigint, bigint, bigint)")
    op.execute("DROP FUNCTION ledger.account_of(text, uuid, text)")
    op.execute("DROP VIEW ledger.account_balances")
    # fold the slots back into their account rows (0001 keeps every balance in place)
    op.execute(
        """
        UPDATE ledger.accounts a
           SET posted_debits = a.posted_debits + s.pd, posted_credits = a.posted_credits + s.pc,
               pending_debits = a.pending_debits + s.hd,
               pending_credits = a.pending_credits + s.hc
          FROM (SELECT account_id, sum(posted_debits) AS pd, sum(posted_credits) AS pc,
                       sum(pending_debits) AS hd, sum(pending_credits) AS hc
                  FROM ledger.account_slots GROUP BY account_id) s
         WHERE a.id = s.account_id
        """
    )
    op.execute("DROP TABLE ledger.account_slots")
