"""Handshake fingerprints (JA3/JA4, HASSH) computed from parsed handshake records."""
