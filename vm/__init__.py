"""Guest side of kprobe-harness: initramfs, QEMU lifecycle, serial console and the guest session."""
