from __future__ import annotations

from pathlib import Path

from vm import initramfs


def test_busybox_config_edit_sets_unsets_and_adds() -> None:
    text = "CONFIG_A=y\n# CONFIG_STATIC is not set\nCONFIG_TC=y\n"
    edited = initramfs.edit_busybox_config(text, {"CONFIG_STATIC": "y", "CONFIG_TC": "n", "CONFIG_NEW": "y"})
    assert edited == "CONFIG_A=y\nCONFIG_STATIC=y\n# CONFIG_TC is not set\nCONFIG_NEW=y\n"


def test_cpio_list_has_console_busybox_init_and_module() -> None:
    listing = initramfs.cpio_list(Path("/b/busybox"), Path("/r/init"), [Path("/m/kprobe_event_gen_test.ko")])
    lines = listing.splitlines()
    assert "nod /dev/console 0600 0 0 c 5 1" in lines
    assert "file /bin/busybox /b/busybox 0755 0 0" in lines
    assert "file /init /r/init 0755 0 0" in lines
    assert "file /kh/kprobe_event_gen_test.ko /m/kprobe_event_gen_test.ko 0644 0 0" in lines
    # every parent directory is listed before what it holds
    dirs = [l.split()[1] for l in lines if l.startswith("dir ")]
    assert "/kh" in dirs and "/tmp" in dirs


def test_init_mounts_tracefs_and_announces_readiness() -> None:
    assert "mount -t tracefs tracefs /sys/kernel/tracing" in initramfs.INIT_SCRIPT
    assert "busybox --install -s" in initramfs.INIT_SCRIPT
    assert initramfs.READY_MARKER in initramfs.INIT_SCRIPT


def test_busybox_version_from_tarball_name() -> None:
    assert initramfs.busybox_version(Path("busybox_1.35.0.orig.tar.bz2")) == "1.35.0"


def test_the_session_busybox_has_every_applet_the_session_runs() -> None:
    """Each command word of init and of the session (written down by vm/script.py) is an applet or
    an ash builtin of the small busybox."""
    import re

    from harness.spec.arches import ARCHES
    from harness.spec.render import probe_spec
    from vm import guest, script

    builtins = {"echo", "test", "printf", "exec", "cd", "if", "then", "else", "fi", "sh", "for", "do", "done", "false"}
    have = {name.lower() for name in initramfs.SESSION_APPLETS} | builtins | {"busybox"}
    commands = []
    for shell in (script._Writer(), script._Writer(failing="insmod")):  # both of insmod's branches
        guest.run_session(shell, probe_spec(ARCHES["x86_64"], "abi", None), "/kh/m.ko")
        commands += [command for _stage, command, _may_fail in shell.commands]
    assert any("error_log" in c for c in commands) and any("trace_marker" in c for c in commands)
    text = initramfs.INIT_SCRIPT + "\n" + "\n".join(commands)
    words = {m.group(1) for m in re.finditer(r"(?:^|[;|]|\$\(|'|&&)\s*(?:exec\s+)?([a-z][a-z0-9_.-]*)", text, re.MULTILINE)}
    assert words - have == set(), words - have
