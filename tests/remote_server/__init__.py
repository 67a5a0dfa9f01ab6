"""A loopback server speaking nnsight 0.8's remote protocol, for offline tests (see server.py)."""
