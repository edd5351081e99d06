"""What each arch must offer per kernel series (offers.toml): grammar elements, KUnit suites, the
ftrace cases that may be UNSUPPORTED. Data beside the arch table; the verdict holds a kernel to it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.errors import UserError
from harness.spec.kernels import version_tuple

OFFERS = Path(__file__).with_name("offers.toml")


@dataclass(frozen=True)
class Offers:
    """One arch and series' expectations; None where there is none (a series without a row)."""

    series: str
    grammar_absent: tuple[str, ...] | None = None
    kunit: tuple[str, ...] | None = None
    ftrace_unsupported: tuple[str, ...] | None = None

    def label(self, arch: str) -> str:
        return f"{arch} {self.series}"


def series_of(version: str) -> str:
    """'6.12' for 6.12.118 (and 6.12-rc3); '' when the version does not say."""
    v = version_tuple(version)
    return f"{v[0]}.{v[1]}" if len(v) >= 2 else ""


@cache
def _table(path: Path = OFFERS) -> dict[str, dict[str, object]]:
    try:
        return dict(tomllib.loads(path.read_text()).get("series", {}))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"cannot read the expected offers {path}: {e}") from None


def _names(value: object) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)  # type: ignore[attr-defined]


def expected(arch: str, version: str, path: Path = OFFERS) -> Offers:
    """What arch must offer on the series of version (no expectation when the series has no row)."""
    series = series_of(version)
    row = _table(path).get(series)
    if row is None:
        return Offers(series)
    own: dict[str, object] = dict(row.get("arch", {}).get(arch, {}))  # type: ignore[attr-defined]
    absent = _names(row.get("grammar_absent"))
    if absent is not None or "grammar_absent" in own:
        absent = tuple(dict.fromkeys((*(absent or ()), *(_names(own.get("grammar_absent")) or ()))))
    return Offers(series, absent, _names(own.get("kunit", row.get("kunit"))),
                  _names(own.get("ftrace_unsupported", row.get("ftrace_unsupported"))))
