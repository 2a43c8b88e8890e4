#!/usr/bin/env bash
# Proves deploy/check-deps.sh fails fast and says what to install: in an environment where
# one listed Python module raises ImportError (a shadowing file on PYTHONPATH) and one listed
# program is absent from PATH (a PATH of symlinks to every program but that one), it exits
# non-zero with exactly one line for each, naming it and its Debian package. It also passes in
# the normal environment, and every package the requirements name is one that install-deps
# installs (or one every Debian system has). No sleeps; check-deps bounds each program at 10 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
check="$root/deploy/check-deps.sh"
reqs="$root/third_party/test-requirements.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_deps_test: FAIL: $*" >&2; exit 1; }
package_of() { awk -v k="$1" -v n="$2" '$1 == k && $2 == n { print $3; exit }' "$reqs"; }

# 1. The normal environment (the one the other tests run in) passes.
out=$("$check" 2>&1) || fail "check-deps fails in the normal environment:"$'\n'"$out"
grep -qx 'check-deps: all [0-9]* modules and tools present' <<<"$out" || fail "unexpected output: $out"

# 2. One module shadowed, one program hidden.
module=serial_asyncio tool=mbpoll
module_pkg=$(package_of python "$module") tool_pkg=$(package_of tool "$tool")
[ -n "$module_pkg" ] && [ -n "$tool_pkg" ] || fail "$module or $tool is no longer in $reqs"
mkdir "$tmp/py" "$tmp/bin"
echo 'raise ImportError("shadowed by tests/deps/check_deps_test.sh")' > "$tmp/py/$module.py"
declare -A seen=([$tool]=1)
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do   # first match on PATH wins, as for the shell
  targets=()
  for file in "$dir"/*; do
    name=${file##*/}
    [ -x "$file" ] && [ ! -d "$file" ] && [ -z "${seen[$name]:-}" ] || continue
    seen[$name]=1
    targets+=("$file")
  done
  [ ${#targets[@]} -eq 0 ] || ln -s -t "$tmp/bin" -- "${targets[@]}"
done
if out=$(PATH="$tmp/bin" PYTHONPATH="$tmp/py${PYTHONPATH:+:$PYTHONPATH}" "$check" 2>&1); then
  fail "check-deps exited 0 with $module shadowed and $tool hidden:"$'\n'"$out"
fi
# (after the package, check-deps may add why the import failed)
grep -q "^check-deps: missing Python module $module (Debian package $module_pkg)\($\|: \)" <<<"$out" ||
  fail "no line for $module:"$'\n'"$out"
grep -qxF "check-deps: missing program $tool (Debian package $tool_pkg)" <<<"$out" ||
  fail "no line for $tool:"$'\n'"$out"
[ "$(grep -c '^check-deps: missing ' <<<"$out")" -eq 2 ] || fail "expected exactly two missing items:"$'\n'"$out"

# 3. Every package named there is installed by install-deps, or is in every Debian system.
listed=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$root/third_party/debian-packages.txt")
for pkg in $(awk '$1 == "python" || $1 == "tool" { print $3 }' "$reqs" | sort -u); do
  grep -qxF "$pkg" <<<"$listed" && continue
  [[ $(dpkg-query -W -f='${Essential} ${Priority}' "$pkg" 2>/dev/null) =~ ^yes|required ]] ||
    fail "$pkg (in $reqs) is neither in third_party/debian-packages.txt nor Essential/required"
done
echo "check_deps_test: ok"
