"""SciFiKPI analytics: projections of every topic into exact figures for admins."""
