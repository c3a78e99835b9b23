#!/bin/sh
# Runs a command in network namespaces of its own, for the call tests, so
# that nothing can leave them: the command's namespace has loopback and a
# host address, 192.0.2.10 (TEST-NET), which Chromium gathers as a host
# candidate that must never reach the other page; coturn gets a namespace of
# its own behind a veth pair, at 192.0.2.11, so that no address of the pages
# is also the TURN server's; the phone tests' carrier and phone are at
# 192.0.2.12 in that namespace too. The command learns the coturn namespace's
# process in TIRAI_TURN_NETNS (start coturn with nsenter -t PID -n).
#   web/e2e/netns.sh node --test web/e2e/calls.test.mjs
set -eu
if [ "${1:-}" = "--inside" ]; then
  shift
  ip link set lo up
  ip link add tirai-host type veth peer name tirai-turn
  ip addr add 192.0.2.10/24 dev tirai-host
  ip link set tirai-host up
  # coturn's namespace: a process that holds it, until this script ends.
  unshare --net sleep infinity &
  turn_ns=$!
  trap 'kill "$turn_ns" 2> /dev/null' EXIT INT TERM
  # Wait until the child is in its new namespace (unshare has run sleep).
  while [ "$(readlink "/proc/$turn_ns/ns/net")" = "$(readlink /proc/self/ns/net)" ] ||
        ! grep -qx sleep "/proc/$turn_ns/comm" 2> /dev/null; do
    :
  done
  ip link set tirai-turn netns "$turn_ns"
  nsenter -t "$turn_ns" -n sh -c \
    'ip link set lo up && ip addr add 192.0.2.11/24 dev tirai-turn && ip link set tirai-turn up &&
     ip addr add 192.0.2.12/32 dev lo'
  export TIRAI_TURN_NETNS="$turn_ns"
  "$@"
  exit $?
fi
if [ "$(id -u)" -eq 0 ]; then
  exec unshare --net -- "$0" --inside "$@"
fi
# Not root: a user namespace of its own gives the rights inside.
exec unshare --map-root-user --net -- "$0" --inside "$@"
