#!/usr/bin/env bash
# Start (or stop) a one-node Slurm cluster on this machine: munged, slurmctld
# and slurmd, with the repository's slurm.conf.template. Needs root and
# Debian's packages `slurm-wlm` and `munge` (installed with --install).
#
# Usage: bash scripts/slurm/local_cluster.sh [--install] start|stop|status
#   --install  apt-get install slurm-wlm and munge first (when missing)
#   start      start the daemons and wait until the partition is idle
#   stop       stop them
#   status     print `sinfo`
# Environment: SLURM_STATE_DIR (default /var/lib/enprompt-slurm) holds the
# daemons' state, spool and logs.
#
# The cluster is what `python -m enprompt.sweep --executor slurm` and the
# Slurm tests submit to. CPUs and memory are the machine's own (80% of
# MemTotal). The daemons are ordinary processes: they stop with the machine.
set -euo pipefail
if [ -z "${BASH_VERSION:-}" ]; then echo "Run with bash: bash $0" >&2; exit 2; fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE_DIR=${SLURM_STATE_DIR:-/var/lib/enprompt-slurm}
CONF=/etc/slurm/slurm.conf

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "Error: $*" >&2; exit 1; }
# running NAME: a live (not zombie) process of that name exists.
running() { pgrep -x "$1" -r D,R,S >/dev/null 2>&1; }

install_packages() {
    if command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then
        return
    fi
    echo "Installing slurm-wlm and munge (apt-get) ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start_munge() {
    if running munged; then return; fi
    install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge /var/lib/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
}

write_conf() {
    local host cpus mem_kb
    host=$(hostname)
    cpus=$(nproc)
    mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    mkdir -p /etc/slurm "$STATE_DIR/ctld" "$STATE_DIR/d"
    sed -e "s|@HOST@|$host|g" -e "s|@CPUS@|$cpus|g" \
        -e "s|@MEMORY_MB@|$((mem_kb * 8 / 10 / 1024))|g" -e "s|@STATE_DIR@|$STATE_DIR|g" \
        "$HERE/slurm.conf.template" > "$CONF"
}

wait_idle() {
    local i
    for i in $(seq 1 30); do
        if timeout 5 sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            timeout 5 sinfo
            return 0
        fi
        if [ "$i" = 10 ]; then
            timeout 5 scontrol update nodename="$(hostname)" state=resume >/dev/null 2>&1 || true
        fi
        sleep 1
    done
    echo "--- slurmctld.log" >&2; tail -n 20 "$STATE_DIR/slurmctld.log" >&2 || true
    echo "--- slurmd.log" >&2; tail -n 20 "$STATE_DIR/slurmd.log" >&2 || true
    die "the Slurm partition did not become idle within 30 s (logs above)"
}

start() {
    [ "$(id -u)" = 0 ] || die "starting the local Slurm cluster needs root"
    command -v slurmctld >/dev/null 2>&1 || die "slurmctld not found: rerun with --install" \
        "(or apt-get install slurm-wlm munge)"
    start_munge
    write_conf
    running slurmctld || slurmctld
    running slurmd || slurmd
    wait_idle
}

stop() {
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    pkill -x munged 2>/dev/null || true
}

INSTALL=0
if [ "${1:-}" = "--install" ]; then INSTALL=1; shift; fi
case "${1:-}" in
    start) [ "$INSTALL" = 1 ] && install_packages; start ;;
    stop) stop ;;
    status) timeout 10 sinfo ;;
    -h|--help) usage ;;
    *) usage >&2; exit 2 ;;
esac
