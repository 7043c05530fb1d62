"""Test support: local servers (the demo site, a hostile site, the benchmark newsite)."""
