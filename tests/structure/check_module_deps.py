#!/usr/bin/python3
"""Module dependency rule: a file may include only headers of its own target or of a target
it depends on (transitively). A wrong-way include compiles today, because every library
exports the whole source root as its include directory; this check is what refuses it.

    check_module_deps.py [--expect FILE] BUILD_DIR SOURCE_DIR [-- CMAKE_ARGS...]

Targets, their sources and their dependencies come from CMake itself (File API,
codemodel-v2), never from the CMakeLists.txt text. Exit 0 and one summary line when clean;
one line per violation and exit 1 otherwise. With --expect, pass only if the violations are
exactly the lines of FILE (the fixture test that proves the check can fail).
"""
import argparse, json, os, re, subprocess, sys

HEADER_EXTS = {".h", ".hh", ".hpp", ".hxx", ".inl", ".ipp"}
CODE_EXTS = HEADER_EXTS | {".c", ".cc", ".cpp", ".cxx"}
QUOTED_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def codemodel(build, source, cmake, generator, cmake_args):
    """The codemodel reply of BUILD if it has one. CMake reads File API queries *before*
    configuring, so the query that tests/structure/CMakeLists.txt writes only gets a reply
    from the second configure on; on a fresh build (CI) configure a private copy instead
    (about a second, nothing built, the real build directory untouched)."""
    def load(reply_dir):
        if not os.path.isdir(reply_dir):
            return None
        index = max((f for f in os.listdir(reply_dir) if f.startswith("index-")), default=None)
        entry = index and json.load(open(os.path.join(reply_dir, index)))["reply"].get("codemodel-v2")
        return entry and (reply_dir, json.load(open(os.path.join(reply_dir, entry["jsonFile"]))))
    found = load(os.path.join(build, ".cmake/api/v1/reply"))
    if found:
        return found
    scratch = os.path.join(build, "structure-codemodel")
    os.makedirs(os.path.join(scratch, ".cmake/api/v1/query"), exist_ok=True)
    open(os.path.join(scratch, ".cmake/api/v1/query/codemodel-v2"), "w").close()
    run = subprocess.run([cmake, "-S", source, "-B", scratch, "-G", generator, *cmake_args],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        sys.exit(f"tests/structure: configuring {source} for its codemodel failed:\n{run.stdout}")
    return load(os.path.join(scratch, ".cmake/api/v1/reply"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", help="build directory (its codemodel, or room for a private one)")
    ap.add_argument("source", help="source root; includes are relative to it")
    ap.add_argument("cmake_args", nargs="*", help="after --: options for a private configure")
    ap.add_argument("--expect", help="fixture mode: the exact violations expected")
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--generator", default="Ninja")
    a = ap.parse_args()
    root, build = os.path.realpath(a.source), os.path.realpath(a.build)
    reply_dir, model = codemodel(build, root, a.cmake, a.generator, a.cmake_args)

    # Targets: name, type, sources (relative to the source root), direct dependencies.
    # `dependencies` already lists what a static library's link dependencies bring in.
    targets, by_id = {}, {}
    for ref in model["configurations"][0]["targets"]:
        t = json.load(open(os.path.join(reply_dir, ref["jsonFile"])))
        srcs = [os.path.normpath(s["path"]) for s in t.get("sources", [])
                if not os.path.isabs(s["path"]) and os.path.splitext(s["path"])[1] in CODE_EXTS
                and not os.path.join(root, s["path"]).startswith(build + os.sep)]
        if not srcs:
            continue  # not ours: no C/C++ source under the source root (generated, utility)
        by_id[t["id"]] = t["name"]
        decl = os.path.normpath(t["paths"]["source"])
        targets[t["name"]] = dict(type=t["type"], dir="" if decl == "." else decl,
                                  srcs=srcs,
                                  deps=[d["id"] for d in t.get("dependencies", [])])
    closure = {}  # target -> itself and everything it depends on, transitively
    def close(name):
        if name not in closure:
            closure[name] = {name}
            for dep in targets[name]["deps"]:
                if dep in by_id:
                    closure[name] |= close(by_id[dep])
        return closure[name]
    for name in targets:
        close(name)

    # A target's folders: where its sources are, and where it is declared.
    folder_targets, stem_targets = {}, {}
    for name, t in targets.items():
        for d in {t["dir"]} | {os.path.dirname(s) for s in t["srcs"]}:
            folder_targets.setdefault(d, set()).add(name)
        for s in t["srcs"]:
            stem_targets.setdefault(os.path.splitext(s)[0], set()).add(name)

    def owners(rel):
        """Targets owning file REL (None if none), and REL's folder. The deepest
        folder with a target wins; a header-only subfolder belongs to its parent's target,
        but a folder with its own CMakeLists.txt is a module of its own and ends the walk."""
        d = os.path.dirname(rel)
        while not folder_targets.get(d):
            if d == "" or os.path.exists(os.path.join(root, d, "CMakeLists.txt")):
                return None, os.path.dirname(rel) or "."
            d = os.path.dirname(d)
        cands = folder_targets[d]
        # Several targets in one folder (mfa/, proxy/net/): x.hpp goes with x.cpp's target;
        # others go to a library rather than a program, and to the folder's top library
        # (the one that depends on the others), else to any of them.
        same_stem = stem_targets.get(os.path.splitext(rel)[0], set()) & cands
        if same_stem:
            return same_stem, d
        libs = {t for t in cands if targets[t]["type"] != "EXECUTABLE"} or cands
        top = {t for t in libs if libs <= closure[t]}
        return (top if len(top) == 1 else libs), d

    # What to check: every source of every target (as that target), and every header in a
    # target's folders (headers are rarely listed as sources), as its owner(s).
    checks = {}  # file -> list of owner sets; each set passes if any member may include
    for name, t in targets.items():
        for s in t["srcs"]:
            checks.setdefault(s, []).append({name})
    for d in list(folder_targets):
        for dirpath, dirnames, files in os.walk(os.path.join(root, d)):
            dirnames[:] = [n for n in dirnames if not n.startswith(".") and not any(
                os.path.exists(os.path.join(dirpath, n, f)) for f in ("CMakeLists.txt", "CMakeCache.txt"))]
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                if os.path.splitext(f)[1] in HEADER_EXTS and rel not in checks:
                    checks[rel] = [owners(rel)[0]]

    def show(names):
        return " or ".join(sorted(names))

    violations, n_includes = set(), 0
    for rel, groups in sorted(checks.items()):
        text = open(os.path.join(root, rel), errors="replace").read()
        for inc in QUOTED_INCLUDE.findall(text):
            n_includes += 1
            # Like the compiler: the includer's folder first, then the source root.
            found = [p for p in (os.path.normpath(os.path.join(os.path.dirname(rel), inc)),
                                 os.path.normpath(inc))
                     if not p.startswith("..") and os.path.isfile(os.path.join(root, p))]
            if not found:
                violations.add(f'tests/structure: {rel} includes "{inc}", which does not exist under the source root')
                continue
            target = found[0]
            if os.path.join(root, target).startswith(build + os.sep) or "third_party" in target.split(os.sep):
                continue  # not a module of ours
            inc_owners, folder = owners(target)
            for g in groups:
                if inc_owners is None:
                    violations.add(f"tests/structure: {rel} ({show(g)}) includes {target}, "
                                   f"which no target owns ({folder}/ has no target)")
                elif not any(closure[t] & inc_owners for t in g):
                    violations.add(f"tests/structure: {rel} ({show(g)}) includes {target} ({show(inc_owners)}), "
                                   f"which {show(g)} does not depend on")

    if a.expect:  # fixture mode: the planted violations, no more and no fewer
        expected = {l for l in open(a.expect).read().splitlines() if l.strip()}
        for l in sorted(expected - violations):
            print("missing (the check did not report it):", l)
        for l in sorted(violations - expected):
            print("unexpected:", l)
        if expected != violations or not expected:
            return 1
        print(f"module deps fixture: all {len(expected)} planted violations reported")
        return 0
    for l in sorted(violations):
        print(l)
    if violations:
        return 1
    print(f"module deps: {n_includes} includes in {len(checks)} files of {len(targets)} targets, "
          "all within their dependencies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
