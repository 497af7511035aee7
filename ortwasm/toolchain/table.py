"""The toolchain table (``ortwasm/data/toolchains.toml``), read once: providers and emscripten release facts.

Why data: which Debian suite ships which emscripten, and from which release the glue changed, are facts that move
with Debian and emscripten, not with our code; with the recipes it is the one place an emscripten version is written.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..errors import ToolchainError

TABLE = "ortwasm/data/toolchains.toml"


@dataclass(frozen=True)
class ProviderFacts:
    name: str
    ships: str
    state: str
    provision_time: str
    default: bool


@dataclass(frozen=True)
class Table:
    providers: dict[str, ProviderFacts]
    min_wasm64: tuple[int, ...]
    address_key_since: tuple[int, ...]
    compile_flags: dict[int, tuple[str, ...]]
    check_link_flags: dict[int, tuple[str, ...]]

    @property
    def default_provider(self) -> ProviderFacts:
        return next(p for p in self.providers.values() if p.default)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


@cache
def table() -> Table:
    text = (resources.files("ortwasm") / "data" / "toolchains.toml").read_text()
    try:
        data = tomllib.loads(text)
        providers = {name: ProviderFacts(name, str(p["ships"]), str(p["state"]), str(p["provision_time"]),
                                         bool(p.get("default", False)))
                     for name, p in data["providers"].items()}
        releases = data["releases"]
        result = Table(providers, version_tuple(releases["min_wasm64"]), version_tuple(releases["address_key_since"]),
                       *({int(k): tuple(v) for k, v in data.get(key, {}).items()}
                         for key in ("compile_flags", "check_link_flags")))
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ToolchainError(f"{TABLE} is malformed: {exc!r}", "reinstall ortwasm, or fix the table") from None
    if sum(p.default for p in providers.values()) != 1:
        raise ToolchainError(f"{TABLE}: exactly one provider must say default = true", "fix the table")
    return result
