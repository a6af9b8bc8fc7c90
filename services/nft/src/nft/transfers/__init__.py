"""Transfers: a user's request to send a minted NFT from custody to their verified wallet, and
how it reads; the chain engine (`nft.chain`) sends and settles it on TON."""
