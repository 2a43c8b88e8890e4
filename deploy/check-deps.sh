#!/usr/bin/env bash
# Fail-fast check, run by deploy/build.sh right after deploy/install-deps.sh: every Python
# module and program in third_party/test-requirements.txt (or the files given as arguments)
# is there. A package that is missing (or only Recommended, which install-deps does not
# install) then stops the build in a second with one line per missing item and the Debian
# package that provides it, instead of failing tests minutes later.
# Honours PATH and PYTHONPATH, as the tests do. Exit status 0 when all present, else 1.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lists=("$@")
[ ${#lists[@]} -gt 0 ] || lists=("$here/third_party/test-requirements.txt")
python=/usr/bin/python3   # Debian's interpreter: the one ctest runs the tests with

modules=()   # module package module package ...
tools=()     # one "program package [args..]" line each
while read -r kind name pkg rest; do
  case "$kind" in
    ''|'#'*) ;;
    python) modules+=("$name" "$pkg") ;;
    tool) tools+=("$name $pkg $rest") ;;
    *) echo "check-deps: bad line in ${lists[*]}: $kind $name $pkg $rest" >&2; exit 2 ;;
  esac
done < <(cat "${lists[@]}")

missing=0
# All modules in one process (fast). A module whose import fails because a listed module it
# imports fails is not reported again: the line names that module's package instead.
if [ ${#modules[@]} -gt 0 ]; then
  if [ ! -x "$python" ]; then
    echo "check-deps: missing program $python (Debian package python3), needed to import $(( ${#modules[@]} / 2 )) modules" >&2
    missing=$((missing + 1))
  else
    n=$("$python" - "${modules[@]}" <<'EOF' || true
import importlib, sys
pairs = list(zip(sys.argv[1::2], sys.argv[2::2]))
package = dict(pairs)
missing = {}  # module -> reason, in the order found
for module, _ in pairs:
    try:
        importlib.import_module(module)
    except BaseException as e:  # ImportError, or a module broken in another way
        culprit = getattr(e, "name", None) if isinstance(e, ModuleNotFoundError) else None
        tb = e.__traceback__
        while tb is not None:  # the innermost listed module that was executing
            name = tb.tb_frame.f_globals.get("__name__")
            if name in package and name != module:
                culprit = name
            tb = tb.tb_next
        if culprit in package:
            missing.setdefault(culprit, "")
        elif isinstance(e, ModuleNotFoundError) and e.name == module:
            missing.setdefault(module, "")  # simply not installed
        else:
            missing.setdefault(module, f": {type(e).__name__}: {e}".splitlines()[0])
for module, reason in missing.items():
    print(f"check-deps: missing Python module {module} (Debian package {package[module]}){reason}",
          file=sys.stderr)
print(len(missing))
EOF
)
    case "$n" in
      [0-9]*) missing=$((missing + n)) ;;
      *) echo "check-deps: $python could not run the module check" >&2; missing=$((missing + 1)) ;;
    esac
  fi
fi

for line in "${tools[@]}"; do
  read -r program pkg args <<<"$line"
  if ! path=$(type -P "$program"); then   # a file on PATH, not a shell builtin
    echo "check-deps: missing program $program (Debian package $pkg)" >&2
    missing=$((missing + 1))
  elif [ -n "$args" ]; then   # $args: split into words on purpose
    rc=0
    # shellcheck disable=SC2086
    out=$(timeout 10 "$path" $args 2>&1 </dev/null) || rc=$?
    if [ $rc -ne 0 ]; then
      echo "check-deps: program $program does not run (Debian package $pkg): exit $rc: $(head -n1 <<<"$out")" >&2
      missing=$((missing + 1))
    fi
  fi
done

total=$(( ${#modules[@]} / 2 + ${#tools[@]} ))
if [ "$missing" -gt 0 ]; then
  echo "check-deps: $missing of $total missing; add the packages named above to third_party/debian-packages.txt" >&2
  exit 1
fi
echo "check-deps: all $total modules and tools present"
