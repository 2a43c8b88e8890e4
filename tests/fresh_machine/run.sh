#!/usr/bin/env bash
# Fresh-machine check of the README's promise ("on a fresh Debian 12 machine, as root, from a
# clone"): a minimal Debian 12 root (debootstrap --variant=minbase) plus only git and
# ca-certificates (what a user needs to `git clone https://...`; `apt install git` pulls
# ca-certificates in as a Recommends), a copy of this checkout as it is now (a clone of HEAD
# with the working tree's uncommitted changes laid over it), then, as root in a chroot,
# ./deploy/test.sh and separately ./deploy/demo.sh (stopped once it reaches its last step).
# Prints one verdict line for each and how long each phase took. The benchmark is not run:
# installing nginx would start a web server on the host's port 80.
#
# The base root is cached as a tarball in $CONDUIT_FRESH_CACHE (default
# /var/cache/conduit-fresh-machine; --fresh rebuilds it) and unpacked anew on every run, so
# every run starts from the same fresh machine; downloaded .debs are cached there too.
# Logs: $cache/last-run/{test,demo}.log (each line prefixed with seconds since its phase began).
#
# usage (as root): tests/fresh_machine/run.sh [--fresh] [--keep] [--only PATH...]
#   --keep  leave the root in place afterwards
#   --only  take only these paths' uncommitted changes, the rest as committed (HEAD): when
#           someone else's edits in progress in the same working tree do not build yet
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${CONDUIT_FRESH_CACHE:-/var/cache/conduit-fresh-machine}
suite=bookworm
base="$cache/$suite-minbase-git.tar"
fresh=0 keep=0 only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh) fresh=1 ;;
    --keep) keep=1 ;;
    --only) shift; only=("$@"); break ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-machine: run as root (debootstrap, chroot, mounts)" >&2; exit 2; }

say() { echo "fresh-machine: $*"; }
timings=()
timed() { timings+=("$(printf '%-28s %5d s' "$1" "$2")"); }

# The host's Debian mirror for a suite: the first URI of an enabled one-line or deb822 source.
uri_for() {
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk -v s="$1" '
    function flush() { if (uri != "" && (" " suites " ") ~ (" " s " ")) { print uri; found = 1; exit } uri = suites = "" }
    FNR == 1 || /^[[:space:]]*$/ { flush() }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { $1 = ""; suites = $0 }
    /^[[:space:]]*deb[[:space:]]/ { sub(/\[[^]]*\]/, ""); if ($3 == s) { print $2; found = 1; exit } }
    END { if (!found) flush() }' "${files[@]}" 2>/dev/null || true
}
mirror=$(uri_for "$suite")
security=$(uri_for "$suite-security")
[ -n "$mirror" ] || { echo "fresh-machine: no $suite mirror in /etc/apt/sources.list{,.d}" >&2; exit 2; }

work="" stage="" root="" mounts=()
# On any exit: stop what still runs in the root, unmount (bounded), remove the root. rm only
# with --one-file-system and only once nothing is mounted below it (never the host's /dev).
cleanup() {
  local status=$? pid i dir killed
  trap - EXIT INT TERM
  for dir in "$root" "$stage"; do
    [ -n "$dir" ] || continue
    for i in 1 2; do   # TERM, then KILL what is left; only processes whose root is this one
      killed=0
      for pid in /proc/[0-9]*; do
        [ "$(readlink "$pid/root" 2>/dev/null)" = "$dir" ] || continue
        kill "-$([ $i = 1 ] && echo TERM || echo KILL)" "${pid#/proc/}" 2>/dev/null && killed=1
      done
      [ $i = 2 ] || [ $killed = 0 ] || sleep 2
    done
  done
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    timeout 10 umount "${mounts[i]}" 2>/dev/null || timeout 10 umount -l "${mounts[i]}" || true
  done
  for dir in "$root" "$stage"; do
    [ -n "$dir" ] && [ -d "$dir" ] || continue
    if grep -qE " $dir(/| )" /proc/self/mountinfo; then
      echo "fresh-machine: still mounted below $dir; not removing it" >&2
    elif [ "$dir" = "$stage" ] || [ $keep -eq 0 ]; then
      rm -rf --one-file-system "$dir"
    fi
  done
  [ -n "$work" ] && [ $keep -eq 0 ] && rmdir "$work" 2>/dev/null || true
  [ $keep -eq 1 ] && [ -n "$root" ] && say "root kept in $root"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Network configuration the chroot shares with the host (a real machine has its own). The
# host's mirror is a dated snapshot, so its Release files may be past Valid-Until: copy the
# host's apt setting that accepts them, without which apt in the root would refuse them.
configure_root() {  # dir
  cp /etc/resolv.conf /etc/hosts "$1/etc/"
  grep -ls 'Check-Valid-Until' /etc/apt/apt.conf.d/* | xargs -r cp -t "$1/etc/apt/apt.conf.d/"
  {
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [ -z "$security" ] || echo "deb $security $suite-security main"
  } > "$1/etc/apt/sources.list"
}

mkdir -p "$cache/last-run" "$cache/apt-archives/partial"
# ---------------------------------------------------------------- base root (cached)
start=$SECONDS
if [ $fresh -eq 1 ] || [ ! -s "$base" ]; then
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  }
  stage=$(mktemp -d /var/tmp/conduit-fresh-base.XXXXXX)
  chmod 0755 "$stage"   # it becomes "/": mktemp's 0700 would lock every other user out
  say "debootstrap $suite (minbase, + git ca-certificates) from $mirror"
  timeout 1800 debootstrap --variant=minbase --include=git,ca-certificates "$suite" "$stage" "$mirror" \
    > "$cache/last-run/debootstrap.log" 2>&1 || { tail -n 20 "$cache/last-run/debootstrap.log" >&2; exit 1; }
  configure_root "$stage"
  rm -f "$stage"/var/cache/apt/archives/*.deb
  tar -C "$stage" -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf --one-file-system "$stage"
  stage=""
  timed "debootstrap (base root)" $((SECONDS - start))
else
  say "base root from the cache: $base"
fi

start=$SECONDS
work=$(mktemp -d /tmp/conduit-fresh-machine.XXXXXX)
root="$work/root"
mkdir "$root"
tar -C "$root" -xf "$base"
chmod 0755 "$root"   # "/" as on a real machine (a tarball from an older run may say 0700)
configure_root "$root"   # the host's settings of today, not of the day the cache was made
# The checkout: a clone (so there is a .git, as after `git clone`), then the working tree as
# it is now (tracked and untracked-not-ignored files; deleted ones deleted). Reads the
# repository only: nothing here changes its git state.
dest="$root/root/conduit"
git clone -q --no-hardlinks "$repo" "$dest"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard -- "${only[@]}" |
  while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf -) | tar -C "$dest" -xf -
(cd "$repo" && git ls-files -z --deleted -- "${only[@]}") | (cd "$dest" && xargs -0r rm -f --)
timed "unpack root, copy checkout" $((SECONDS - start))

# What a booted machine has mounted. /dev is the host's (bind, not recursive), with its
# own /dev/shm; /run a fresh tmpfs. The .deb cache only saves downloads on later runs.
mnt() { mount "$@"; mounts+=("${*: -1}"); }
# "/" must be a mount point, as on a real machine: `unshare --propagation private` (the
# tests' private_mounts.sh) changes the propagation of "/" and fails with EINVAL otherwise.
mnt --bind "$root" "$root"
mnt -t proc proc "$root/proc"
mnt -t sysfs sysfs "$root/sys"
mnt --bind /dev "$root/dev"
mnt --bind /dev/pts "$root/dev/pts"
mnt -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
mnt -t tmpfs -o mode=0755,nosuid,nodev run "$root/run"
mnt --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
chroot "$root" chown _apt:root /var/cache/apt/archives/partial

# A command prefix: as root in the checkout, with a login's minimal environment.
in_root=(chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}"
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
         /bin/bash -c 'cd /root/conduit && exec "$@"' bash)
stamp() { local t0=$SECONDS line; while IFS= read -r line; do printf '%5d %s\n' $((SECONDS - t0)) "$line"; done; }

# ---------------------------------------------------------------- ./deploy/test.sh
test_log="$cache/last-run/test.log"
say "./deploy/test.sh (log: $test_log)"
start=$SECONDS
# In the background, so that Ctrl-C here (`timeout` has its own process group) stops at once.
(timeout 3600 "${in_root[@]}" ./deploy/test.sh < /dev/null 2>&1 | stamp > "$test_log") &
if wait $!; then test_rc=0; else test_rc=$?; fi
test_s=$((SECONDS - start))
installed=$(awk '/ check-deps: /{ print $1; exit }' "$test_log")
read -r build_s ctest_s < <(sed -n 's/.* build: \([0-9]*\) s, tests: \([0-9]*\) s$/\1 \2/p' "$test_log") || true
summary=$(grep -o '[0-9]*% tests passed.*' "$test_log" || echo "no ctest summary")
[ -z "$installed" ] || timed "  install-deps (apt)" "$installed"
[ -z "${build_s:-}" ] || timed "  check-deps + cmake build" $((build_s - ${installed:-0}))
[ -z "${ctest_s:-}" ] || timed "  ctest" "$ctest_s"
timed "deploy/test.sh" "$test_s"
if [ "$test_rc" -ne 0 ]; then
  grep -E ' check-deps: | \(Failed\)| \(Timeout\)|\*\*\*' "$test_log" | tail -n 30 >&2 || true
  tail -n 15 "$test_log" >&2
fi

# ---------------------------------------------------------------- ./deploy/demo.sh
# Runs until Ctrl-C: done once it prints its last step while the gateway still runs. In a
# session of its own, so that TERM reaches it and everything it started.
demo_log="$cache/last-run/demo.log"
: > "$demo_log"
# The chroot shares the host's network: the demo's fixed loopback ports must be free.
busy=""
for port in 802 8443 15020 5020 5021; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy+=" $port"; fi
done
[ -z "$busy" ] || say "the host already listens on 127.0.0.1:${busy# }: the demo would fail to bind"
say "./deploy/demo.sh (log: $demo_log)"
start=$SECONDS
setsid bash -c "$(declare -f stamp)"'; "$@" 2>&1 | stamp' bash "${in_root[@]}" ./deploy/demo.sh \
  < /dev/null > "$demo_log" 2>&1 &
demo_pid=$!
reached=0
for ((i = 0; i < 1200; i++)); do   # bounded: 20 min (the demo rebuilds without the tests)
  grep -q 'Press Ctrl-C here' "$demo_log" && { reached=1; break; }
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 1
done
demo_s=$((SECONDS - start))
kill -TERM -- "-$demo_pid" 2>/dev/null || true
for ((i = 0; i < 30; i++)); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 1; done
kill -KILL -- "-$demo_pid" 2>/dev/null || true
wait "$demo_pid" 2>/dev/null || true
timed "deploy/demo.sh (to last step)" "$demo_s"
[ $reached -eq 1 ] || tail -n 25 "$demo_log" >&2

echo
say "phase timings:"
printf '  %s\n' "${timings[@]}"
if [ "$test_rc" -eq 0 ]; then
  say "VERDICT deploy/test.sh: PASS ($summary)"
else
  say "VERDICT deploy/test.sh: FAIL (exit $test_rc; $summary)"
fi
# Reaching the end is not enough (mbpoll failures do not stop the demo): alice's and the
# supplier's reads return values, alice's granted write is written, and the three writes
# the policy refuses get "Illegal function" (not a dropped connection).
reads=$(grep -c ' \[0\]:' "$demo_log" || true)
written=$(grep -ci 'written' "$demo_log" || true)
refused=$(grep -c 'Illegal function' "$demo_log" || true)
demo_ok=0
if [ $reached -eq 1 ] && [ "$reads" -ge 2 ] && [ "$written" -ge 1 ] && [ "$refused" -ge 3 ]; then demo_ok=1; fi
checks="$reads reads with values (want 2), $written granted writes (want 1), $refused writes refused by policy (want 3)"
if [ $demo_ok -eq 1 ]; then
  say "VERDICT deploy/demo.sh: PASS (reached 'the gateway keeps running' in $demo_s s; $checks)"
elif [ $reached -eq 1 ]; then
  say "VERDICT deploy/demo.sh: FAIL (reached its last step in $demo_s s, but $checks)"
  grep -E ' (error|warn) ' "$demo_log" | head -n 3 >&2 || true
else
  say "VERDICT deploy/demo.sh: FAIL (did not reach its last step in $demo_s s)"
fi
[ "$test_rc" -eq 0 ] && [ $demo_ok -eq 1 ]
