#!/bin/sh
# The vtty demo, run inside the guest by `cargo xtask demo`.
#
# Starts three containers: cgroups under vtty-demo/, each a busybox userland in
# its own pid, mount and uts namespaces. It gives them consoles with vtty-ctl
# mknod and allow. Then it either opens vtty-top (interactive) or runs for a
# number of seconds and checks every part (headless).
#
#   demo.sh                   interactive: vtty-top, then a shell
#   demo.sh --headless N      N seconds, then the final table and the checks
set -u

PARENT=vtty-demo
V1=/sys/fs/cgroup/devices/$PARENT
V2=/sys/fs/cgroup/unified/$PARENT
export VTTY_CGROUP_PARENT=$PARENT
CT_DIR=/run/vtty-demo
failures=0

step() { echo "demo: $*"; }
check() {
    # check DESCRIPTION COMMAND...: runs COMMAND and records a failure.
    what=$1; shift
    if "$@"; then
        echo "demo: ok: $what"
    else
        echo "demo: FAILED: $what"
        failures=$((failures + 1))
    fi
}

# The container's own init: waits until the host made its device nodes and
# allowed it, then runs its workload. Runs as pid 1 of the new pid namespace.
write_container_scripts() {
    mkdir -p $CT_DIR
    cat > $CT_DIR/init.sh <<'INIT'
#!/bin/sh
# Join the container's cgroups first ("0" is the writing process), so that they
# hold this container's processes alone.
echo 0 > "/sys/fs/cgroup/unified/vtty-demo/$CTID/cgroup.procs"
echo 0 > "/sys/fs/cgroup/devices/vtty-demo/$CTID/cgroup.procs"
mount -t tmpfs -o mode=755 dev /dev
# The nodes every container runtime creates; the console and ttys come from
# vtty-ctl mknod.
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
mkdir /dev/pts
hostname "ct$CTID"
# The host makes the device nodes only once this /dev is mounted.
touch /dev/.vtty-ready
while [ ! -e /dev/.vtty-allowed ]; do sleep 0.2; done
exec sh "/run/vtty-demo/ct$CTID.sh"
INIT
    cat > $CT_DIR/ct101.sh <<'CT'
#!/bin/sh
# Container 101: a boot banner on its console and a getty on tty2.
echo "Welcome to container 101 (vtty demo), $(uname -sr)" > /dev/console
echo "Log in on tty2: vtty-ctl console 101 tty2" > /dev/console
while true; do
    # getty prints its prompt again when Enter is pressed on an empty name, so an
    # administrator who attaches later gets a prompt after one Enter.
    setsid getty -l /bin/sh 38400 tty2
    sleep 1
done
CT
    cat > $CT_DIR/ct102.sh <<'CT'
#!/bin/sh
# Container 102: a steady log on its console.
i=0
while true; do
    i=$((i + 1))
    echo "ct102 $(date +%T) log line $i" > /dev/console
    sleep 1
done
CT
    cat > $CT_DIR/ct103.sh <<'CT'
#!/bin/sh
# Container 103: floods its console. With no attacher, vtty drops all of it.
exec yes "ct103 flooding its console" > /dev/console
CT
}

# start_container CTID: new namespaces; the container's init joins its cgroups.
start_container() {
    ctid=$1
    mkdir -p "$V1/$ctid" "$V2/$ctid"
    CTID=$ctid setsid unshare -p -m -u -f --mount-proc sh $CT_DIR/init.sh </dev/null >/dev/null 2>&1 &
}

# container_init CTID: the container's init pid on the host, once it runs.
container_init() {
    for try in $(seq 50); do
        for pid in $(cat "$V2/$1/cgroup.procs" 2>/dev/null); do
            if [ "$(readlink /proc/$pid/ns/pid)" != "$(readlink /proc/1/ns/pid)" ]; then
                echo "$pid"
                return 0
            fi
        done
        sleep 0.2
    done
    return 1
}

# in_container CTID COMMAND: runs COMMAND in the container's cgroups and
# namespaces, as the container's own processes do.
in_container() {
    init=$(container_init "$1") || return 1
    sh -c "echo \$\$ > $V2/$1/cgroup.procs && echo \$\$ > $V1/$1/cgroup.procs &&
           exec nsenter -t $init -p -m -u sh -c '$2'"
}

# denied CTID COMMAND: true when COMMAND fails in the container.
denied() {
    ! in_container "$1" "$2" 2>/dev/null
}

# dropped CTID: bytes dropped on the container's console (index 0), from the probes.
dropped() {
    vtty-ctl stats --json "$1" | tr -d ' \n' | grep -o '"bytes_dropped":[0-9]*' | head -n 1 | cut -d: -f2
}

drops_climbing() {
    before=$(dropped "$1")
    sleep 2
    after=$(dropped "$1")
    echo "demo: $1 dropped $before, then $after bytes"
    [ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ]
}

# Attaches to 101's tty2 the way an administrator would and looks for the getty's
# login prompt. The getty printed its first prompt before anyone attached (that
# output was dropped), so the check ends it and the container's loop starts a
# fresh one while the console is attached.
console_reaches_getty() {
    (sleep 6) | timeout 10 vtty-ctl console 101 tty2 > /tmp/console.out 2>&1 &
    console=$!
    sleep 2
    in_container 101 "killall getty"
    wait "$console"
    if grep -q "login:" /tmp/console.out; then
        return 0
    fi
    echo "demo: vtty-ctl console 101 tty2 printed:"
    cat /tmp/console.out
    echo "demo: processes of container 101:"
    in_container 101 "ps -o pid,args" 2>&1
    grep "index=1 " /sys/kernel/debug/vtty/containers
    return 1
}

setup() {
    step "loading the probes"
    vtty-ctl probes load || return 1
    write_container_scripts
    mkdir -p "$V1" "$V2"
    for ctid in 101 102 103; do
        step "starting container $ctid"
        start_container $ctid
    done
    for ctid in 101 102 103; do
        init=$(container_init $ctid) || { step "container $ctid did not start"; return 1; }
        for try in $(seq 50); do
            [ -e "/proc/$init/root/dev/.vtty-ready" ] && break
            sleep 0.2
        done
        step "container $ctid: init is pid $init; vtty-ctl mknod $ctid && vtty-ctl allow $ctid"
        vtty-ctl mknod $ctid || return 1
        vtty-ctl allow $ctid || return 1
        touch "/proc/$init/root/dev/.vtty-allowed"
    done
}

headless() {
    seconds=$1
    step "running for $seconds seconds"
    sleep "$seconds"
    step "final per-container table"
    vtty-ctl stats
    vtty-ctl stats --json > /tmp/stats.json
    vtty-ctl status
    for ctid in 101 102 103; do
        check "container $ctid is registered" grep -q "\"name\": *\"$ctid\"" /tmp/stats.json
    done
    check "103's drop total is climbing" drops_climbing 103
    check "vtty-ctl check 102 passes" vtty-ctl check 102
    check "102 can open its console" in_container 102 "echo probe > /dev/console"
    check "vtty-ctl deny 102" vtty-ctl deny 102
    check "deny 102 takes effect (EPERM)" denied 102 "echo probe > /dev/console"
    check "vtty-ctl allow 102" vtty-ctl allow 102
    check "allow 102 restores access" in_container 102 "echo probe > /dev/console"
    check "console 101 tty2 reaches the getty" console_reaches_getty
    if [ "$failures" -ne 0 ]; then
        step "$failures check(s) failed"
        return 1
    fi
    step "every part worked"
}

interactive() {
    step "opening vtty-top; press q to leave it for a shell"
    sleep 1
    vtty-top
    echo
    echo "demo: vtty-top closed. Try: vtty-ctl console 101 tty2 (detach with Ctrl-] then .)"
    echo "demo: 'exit' powers the guest off."
    setsid cttyhack sh -l
}

setup || { step "setup failed"; exit 1; }
case "${1:-}" in
--headless) headless "${2:-20}" ;;
*) interactive ;;
esac
