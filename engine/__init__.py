"""exfilwatch: a sensor for data exfiltration over encrypted channels (T1048.002)."""

__version__ = "0.1.0"
