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
