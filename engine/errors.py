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
    """A configuration value is missing, malformed or out of range.

    `key` and `problem` (when given) let a loader restate the message with
    the key's full dotted path in the file."""

    def __init__(self, message: str, key: str | None = None, problem: str | None = None):
        super().__init__(message)
        self.key = key
        self.problem = problem


class IntelError(ConfigError):
    """A threat-intelligence file cannot be read or has a malformed line.

    A ConfigError too, so `config check` reports it with the other
    configuration problems; the message names the file and the line.
    """


class RunDirError(ExfilwatchError):
    """An output directory of replay/live lacks what a later command needs
    (run.json, eve.json), or does not hold the alert or flow asked for."""


class OutputError(ExfilwatchError):
    """An output file cannot be written in the form asked for."""
