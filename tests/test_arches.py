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


def test_value_checks_follow_the_profiles_that_fetch_real_arguments() -> None:
    from harness.verdict.session_checks import value_checks_of

    assert value_checks_of("abi", "do_sys_open", "x86_64") == ("filename_arg", "register_args", "retval")
    assert value_checks_of("upstream", "do_sys_open", "x86_64") == ()  # the i386 convention on x86_64
    # on i386 upstream's strings are the real arguments; its filename is an address, not a string
    assert value_checks_of("upstream", "do_sys_open", "i386") == ("register_args", "retval")
    assert value_checks_of("abi", "vfs_read", "i386") == ()


def test_no_arch_name_is_written_outside_the_table() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    names = "|".join(re.escape(n) for n in ARCHES if n not in ("arm",))  # "arm" is also an English word
    pattern = re.compile(rf"[\"'](?:{names})[\"']")
    allowed = {"harness/spec/arches.py", "harness/cli/tasks.py", "harness/runs/bench.py",
               "harness/results/bench_table.py"}  # the default arch of single-arch tasks; the bench's x86_64 baseline
    found = [f"{path.relative_to(root)}:{n}" for path in [*root.joinpath("harness").rglob("*.py"), *root.joinpath("vm").rglob("*.py")]
             if str(path.relative_to(root)) not in allowed
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, f"arch names in code outside the arch table: {found}"


def test_the_result_schemas_list_every_arch_of_the_table() -> None:
    import json
    from pathlib import Path

    schemas = Path(__file__).resolve().parents[1] / "harness/results/schemas"
    result = json.loads((schemas / "result.schema.json").read_text())
    assert result["properties"]["arch"]["enum"] == list(ARCHES)
    assert f'"{list(ARCHES)[-1]}"' in (schemas / "compare.schema.json").read_text()


def test_the_create_flags_are_the_arch_s_own_on_a_real_mips64el_session() -> None:
    """mips64el's fcntl.h has O_CREAT 0x100 and O_TRUNC 0x200 (asm-generic: 0100 and 01000): its shell's
    write opens with flags 0x2301, which register_args must read as O_WRONLY|O_CREAT|O_TRUNC."""
    import re
    from dataclasses import replace

    from conftest import DATA

    from harness.spec import render
    from harness.verdict import session_checks
    from harness.verdict.observations import Targets
    from vm import guest
    from vm.console import ReplayShell, answers_in

    console = (DATA / "console-mips64el-6.12.log").read_text()
    assert "flags=0x2301" in console
    token = re.search(r"/tmp/kh-([0-9a-f]{8})", console).group(1)  # type: ignore[union-attr]
    spec = render.probe_spec(ARCHES["mips64el"], "abi")
    obs = guest.run_session(ReplayShell(answers_in(console)), spec, "/kh/kprobe_event_gen_test.ko",
                            targets=Targets.new(token))
    checks = {c.name: c for c in session_checks.check_session(obs, spec, 64, console)}
    assert checks["register_args"].status == "pass", checks["register_args"].detail
    # the same session judged as if mips used the generic values fails, naming the flags it saw
    generic = replace(spec, arch="x86_64")
    wrong = {c.name: c for c in session_checks.check_session(obs, generic, 64, console)}
    assert wrong["register_args"].status == "fail" and "flags=0x2301" in wrong["register_args"].detail
