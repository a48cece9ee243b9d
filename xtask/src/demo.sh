#!/bin/sh
# The vtty demo, run inside the guest by `cargo xtask demo`.
#
# Starts three containers (cgroups under vtty-demo/, each a busybox userland in
# its own pid, mount and uts namespaces), gives them consoles with vtty-ctl mknod
# and allow, and then either opens vtty-top (interactive) or runs for a number of
# seconds and checks every part (headless).
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
mount -t tmpfs -o mode=755 dev /dev
mkdir /dev/pts
hostname "ct$CTID"
while [ ! -e /dev/.vtty-allowed ]; do sleep 0.2; done
exec sh "/run/vtty-demo/ct$CTID.sh"
INIT
    cat > $CT_DIR/ct101.sh <<'CT'
#!/bin/sh
# Container 101: a boot banner on its console and a getty on tty2.
echo "Welcome to container 101 (vtty demo), $(uname -sr)" > /dev/console
echo "Log in on tty2: vtty-ctl console 101 tty2" > /dev/console
while true; do
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
# Container 103: floods its console; with nobody attached vtty drops it all.
exec yes "ct103 flooding its console" > /dev/console
CT
}

# start_container CTID: the container joins its cgroups, then unshares.
start_container() {
    ctid=$1
    mkdir -p "$V1/$ctid" "$V2/$ctid"
    CTID=$ctid setsid sh -c "
        echo \$\$ > $V2/$ctid/cgroup.procs &&
        echo \$\$ > $V1/$ctid/cgroup.procs &&
        exec unshare -p -m -u -f --mount-proc sh $CT_DIR/init.sh" </dev/null >/dev/null 2>&1 &
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
    check "103's drop total is climbing" sh -c '
        a=$(vtty-ctl stats --json | tr -d " \n" | sed "s/.*\"name\":\"103\"//" | sed -n "s/[^0-9]*\"bytes_dropped\":\([0-9]*\).*/\1/p")
        sleep 2
        b=$(vtty-ctl stats --json | tr -d " \n" | sed "s/.*\"name\":\"103\"//" | sed -n "s/[^0-9]*\"bytes_dropped\":\([0-9]*\).*/\1/p")
        echo "demo: 103 dropped $a, then $b bytes"
        [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ]'
    check "vtty-ctl check 102 passes" vtty-ctl check 102
    check "102 can open its console" in_container 102 "echo probe > /dev/console"
    check "vtty-ctl deny 102" vtty-ctl deny 102
    check "deny 102 takes effect (EPERM)" denied 102 "echo probe > /dev/console"
    check "vtty-ctl allow 102" vtty-ctl allow 102
    check "allow 102 restores access" in_container 102 "echo probe > /dev/console"
    check "console 101 tty2 reaches the getty" sh -c '
        (sleep 2; printf "\r"; sleep 2) | timeout 10 vtty-ctl console 101 tty2 > /tmp/console.out 2>&1
        grep -q "login:" /tmp/console.out'
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
