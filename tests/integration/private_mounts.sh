#!/bin/sh
# Runs a command in a new mount namespace (private propagation), so that a test may mount a
# small tmpfs (a disk that fills up) without touching the machine's mounts. Needs root, as
# CI runs, or an unprivileged user namespace (--map-root-user) where the kernel allows one.
set -eu
if [ "$(id -u)" = 0 ]; then
  exec unshare --mount --propagation private -- "$@"
fi
exec unshare --map-root-user --mount --propagation private -- "$@"
