"""The exception tree at the API edge (STYLE.md item 13).

Traffic never raises: malformed packets are counters and anomalies. These
errors are for the operator's inputs: capture files and configuration.
"""


class ExfilwatchError(Exception):
    """Base of every error exfilwatch raises on purpose."""


class CaptureError(ExfilwatchError):
    """A capture file or interface cannot be read at all."""


class TruncatedCaptureError(CaptureError):
    """A capture file ends in the middle of a block or record."""


class ConfigError(ExfilwatchError):
    """A configuration value is missing, malformed or out of range."""


class IntelError(ConfigError):
    """A threat-intelligence file cannot be read or has a malformed line.

    A ConfigError too, so `config check` reports it with the other
    configuration problems; the message names the file and the line.
    """
