"""Wallets: binding a TON wallet to an account with a TON Connect `ton_proof` (challenge, verify)
and the bound wallet, where NFTs are transferred."""
