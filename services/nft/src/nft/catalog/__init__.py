"""The catalog: items admins sell (supply, price, active / retired) and their TEP-64 metadata."""
