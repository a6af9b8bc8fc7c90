"""SciFiKPI auth service: accounts, credentials, tokens, roles and the JWKS."""
