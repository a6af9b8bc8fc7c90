"""SciFiKPI mining service: timed sessions, paid acceleration, forecast."""
