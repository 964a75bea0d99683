"""The sensor's configuration file: one TOML file, one table per layer.

Each table is read into that layer's frozen config dataclass by
engine.config.from_table, so every error names the key and the problem.
`exfilwatch config show` prints the effective configuration (defaults
included), `exfilwatch config check FILE` validates a file.
"""
import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

import tomli_w

from .aggregate import AggregateConfig
from .alerts import AlertConfig
from .allowlist import AllowlistConfig
from .baseline import BaselineConfig
from .config import CoreConfig, from_table
from .detect import DetectionSettings
from .detections import DetectConfig
from .geo import GeoConfig
from .intel import IntelConfig
from .scoring import CertScoringConfig
from .sinks.config import OutputsConfig
from .validation import ValidationConfig
from .errors import ConfigError

# table name -> config class; each layer registers its own here
SECTIONS = {
    "core": CoreConfig,
    "aggregate": AggregateConfig,
    "baseline": BaselineConfig,
    "detect": DetectConfig,
    "alerts": AlertConfig,
    "allowlist": AllowlistConfig,
    "intel": IntelConfig,
    "geo": GeoConfig,
    "validation": ValidationConfig,
    "scoring.certificates": CertScoringConfig,
    "outputs": OutputsConfig,
}


def _read_table(cls, table, name):
    # a layer with its own validation (lists of entries, paths) brings it
    if hasattr(cls, "from_table"):
        return cls.from_table(table, where=name)
    return from_table(cls, table, name)


@dataclass(frozen=True)
class Settings:
    sections: dict = field(default_factory=lambda: {name: cls() for name, cls in SECTIONS.items()})

    def __getitem__(self, name):
        return self.sections[name]

    @property
    def core(self) -> CoreConfig:
        return self.sections["core"]

    def detection(self) -> DetectionSettings:
        s = self.sections
        return DetectionSettings(
            detect=s["detect"], aggregate=s["aggregate"], baseline=s["baseline"],
            alerts=s["alerts"], allowlist=s["allowlist"], intel=s["intel"], geo=s["geo"],
            validation=s["validation"], cert_scoring=s["scoring.certificates"])


def load_settings(path: str | None) -> Settings:
    """The effective settings: defaults, overridden by the file's tables."""
    if path is None:
        return Settings()
    try:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"Cannot read configuration file {path}: {exc.strerror}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Configuration file {path} is not valid TOML: {exc}.") from exc
    tops = {name.split(".")[0] for name in SECTIONS}
    unknown = sorted(set(document) - tops) or sorted(
        f"{top}.{sub}" for top in document if top not in SECTIONS and isinstance(document[top], dict)
        for sub in document[top] if f"{top}.{sub}" not in SECTIONS)
    if unknown:
        raise ConfigError(f"Configuration file {path} has an unknown table [{unknown[0]}]; "
                          f"the tables are: {', '.join(sorted(SECTIONS))}.")
    sections = {name: _read_table(cls, _table(document, name), name)
                for name, cls in SECTIONS.items()}
    return Settings(sections)


def _table(document: dict, dotted: str):
    """document["scoring"]["certificates"] for "scoring.certificates"; {} when absent."""
    for part in dotted.split("."):
        if not isinstance(document, dict):
            return document
        document = document.get(part, {})
    return document


def render_settings(settings: Settings) -> str:
    """The settings as a TOML document that load_settings reads back."""
    document = {}
    for name, cfg in settings.sections.items():
        table = document
        for part in name.split("."):
            table = table.setdefault(part, {})
        table.update({f.name: _plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)
                      if getattr(cfg, f.name) is not None})
    return tomli_w.dumps(document)


def _plain(value):
    """A config value as TOML types: tables for mappings and dataclasses,
    arrays for tuples and sets."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value
