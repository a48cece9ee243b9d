#!/bin/busybox sh
# /init of the vtty test guest, written into the initramfs by `cargo xtask`.
#
# The kernel passes the unknown `name=value` words of its command line to init as
# environment variables; xtask sets these:
#   vtty_scenario  tests | run | shell | demo
#   vtty_args      arguments of the scenario: a test filter, the command to run,
#                  or the demo's `--headless SECONDS`
#   vtty_rows, vtty_cols, vtty_term   the caller's terminal, for the shell
#
# The host waits for the line `VTTY-GUEST-EXIT status=N` and then for qemu to exit,
# which `reboot -f` causes because qemu runs with -no-reboot.

/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
export HOME=/root

finish() {
    echo "VTTY-GUEST-EXIT status=$1"
    reboot -f
    # reboot -f does not return; this keeps init from exiting, which would panic.
    while true; do sleep 60; done
}

fail() {
    echo "init: $*"
    finish 125
}

must() {
    "$@" || fail "failed: $*"
}

must mount -t proc proc /proc
must mount -t sysfs sysfs /sys
must mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
must mount -t devpts -o ptmxmode=0666 devpts /dev/pts
must mount -t tmpfs -o mode=1777 tmpfs /tmp
must mount -t tmpfs -o mode=755 tmpfs /run
must mount -t tracefs tracefs /sys/kernel/tracing
must mount -t debugfs debugfs /sys/kernel/debug
must mount -t bpf bpf /sys/fs/bpf
# The host layout: a tmpfs holding cgroup v1 `devices` and the cgroup2 hierarchy.
must mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
mkdir /sys/fs/cgroup/devices /sys/fs/cgroup/unified
must mount -t cgroup -o devices devices /sys/fs/cgroup/devices
must mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
hostname vtty-guest

if [ -e /lib/modules/vtty.ko ]; then
    insmod /lib/modules/vtty.ko || fail "insmod /lib/modules/vtty.ko failed; the vtty driver did not load"
    echo "init: vtty driver loaded"
fi

# The console has shown the boot messages; clearing the syslog buffer makes the
# dmesg printed after a failed scenario start here. /dev/kmsg readers see all.
dmesg -c >/dev/null

case "$vtty_scenario" in
tests)
    # Only warnings and worse reach the console from here on, so that kernel
    # messages rarely split the test output; dmesg keeps everything.
    dmesg -n 5
    # shellcheck disable=SC2086 # the filter words are split on purpose
    vtty-guest-tests $vtty_args
    status=$?
    ;;
run)
    dmesg -n 5
    # shellcheck disable=SC2086 # the command words are split on purpose
    $vtty_args
    status=$?
    ;;
demo)
    dmesg -n 1
    if [ -n "${vtty_rows:-}" ]; then
        stty -F /dev/ttyS0 rows "$vtty_rows" cols "${vtty_cols:-80}"
        export TERM="${vtty_term:-linux}"
        # The demo ends in an interactive shell, which needs a controlling tty.
        # shellcheck disable=SC2086
        setsid cttyhack sh /usr/share/vtty/demo.sh $vtty_args
    else
        # shellcheck disable=SC2086
        sh /usr/share/vtty/demo.sh $vtty_args
    fi
    status=$?
    ;;
shell)
    stty -F /dev/ttyS0 rows "${vtty_rows:-24}" cols "${vtty_cols:-80}"
    export TERM="${vtty_term:-linux}"
    echo "init: vtty guest shell; 'exit' powers the guest off"
    setsid cttyhack sh -l
    status=0
    ;;
*)
    echo "init: unknown scenario '$vtty_scenario'; the known ones are tests, run, shell and demo"
    status=2
    ;;
esac

if [ "$status" -ne 0 ]; then
    echo "init: the scenario '$vtty_scenario' exited with status $status; its kernel log follows"
    dmesg | sed 's/^/dmesg: /'
fi
finish "$status"
