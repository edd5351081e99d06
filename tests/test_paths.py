"""Files other runs and tools read appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.host import paths


def test_write_atomic_replaces_the_file_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "result.json"
    paths.write_atomic(target, "old\n")
    paths.write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_a_write_that_fails_half_way_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "kvm-probe.json"
    paths.write_atomic(target, '{"a": 1}\n')

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(paths.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        paths.write_atomic(target, '{"a": 2}\n')
    assert target.read_text() == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["kvm-probe.json"]
