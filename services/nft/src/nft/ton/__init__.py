"""The TON side of the nft service: strict addresses, ton_proof, the chain providers (the local
emulated chain and liteservers), the reference NFT contracts and the custody wallet."""
