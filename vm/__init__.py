"""The guest: initramfs and busybox, QEMU's lifecycle, the serial console, the guest session and its
script form. May import: harness.build, harness.verdict (observations) and below."""
