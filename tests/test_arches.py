from __future__ import annotations

import dataclasses

import pytest

from harness.errors import UserError
from harness.spec.arches import ALIASES, ARCHES, resolve_arch


def test_every_alias_resolves_to_its_target() -> None:
    for alias, target in ALIASES.items():
        if target in ARCHES:
            assert resolve_arch(alias).name == target


def test_names_are_case_insensitive() -> None:
    assert resolve_arch("X86_64").name == "x86_64"
    assert resolve_arch("AMD64").name == "x86_64"


def test_unknown_arch_lists_the_valid_ones() -> None:
    with pytest.raises(UserError) as e:
        resolve_arch("sparc")
    message = str(e.value)
    assert "sparc" in message
    for name in ARCHES:
        assert name in message
    assert "amd64" in message


def test_rows_are_frozen_and_hold_tuples_only() -> None:
    for arch in ARCHES.values():
        with pytest.raises(dataclasses.FrozenInstanceError):
            arch.name = "other"  # type: ignore[misc]
        for f in dataclasses.fields(arch):
            assert not isinstance(getattr(arch, f.name), (list, dict, set)), f.name


def test_every_row_has_an_upstream_profile_with_four_fields() -> None:
    for arch in ARCHES.values():
        assert len(arch.probe_fields("upstream")) == 4


def test_unknown_profile_lists_the_valid_ones() -> None:
    with pytest.raises(UserError, match="upstream"):
        ARCHES["x86_64"].probe_fields("nope")


def test_native_host_needs_no_cross_prefix() -> None:
    arch = ARCHES["x86_64"]
    assert arch.cross_prefix("x86_64") == ""
    assert arch.cross_prefix("aarch64") == "x86_64-linux-gnu-"


def test_version_tuple_reads_release_strings() -> None:
    from harness.spec.arches import version_tuple
    assert version_tuple("6.12.117") == (6, 12, 117)
    assert version_tuple("6.1") == (6, 1)
    assert version_tuple("6.13.0-rc3") == (6, 13, 0)
