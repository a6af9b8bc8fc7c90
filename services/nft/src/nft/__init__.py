"""SciFiKPI nft service: NFT catalog and TEP-64 metadata (first slice)."""
