"""The ledger service: double-entry accounts (points in µP, money in USD cents), holds, history."""
