"""SciFiKPI payments service."""
