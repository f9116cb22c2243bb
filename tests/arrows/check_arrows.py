#!/usr/bin/python3
"""check_arrows.py - the module arrows of stsd, enforced on the source tree.

Every top-level folder of the source is a module, and a module may use only the modules its
arrows point to:

    cli      -> every module
    server   -> acme, checker, hosted, mail, reports, sql, policy   (mail: the IMAP poll)
    acme     -> hosted
    mail     -> reports, sql
    checker  -> policy   (it is handed what stsd hosts; it never opens the database)
    hosted   -> sql, policy
    sql      -> policy, reports   (their types only)
    policy, reports -> common only
    common   -> nothing
    and every module -> common.

Two things are checked against that table (ALLOWED below):
  1. every `#include "<module>/..."` in a .c or .h file under a module's folder: a file that
     includes another module's header without an arrow to it fails, named file:line;
  2. each module's meson.build: the `<module>_dep` names (or `<module>_<part>_dep`, such as
     reports_types_dep) in its `dependencies :` lists must have an arrow, and every module it
     includes must be among them (the build says what the code uses).

Usage:
    check_arrows.py [SOURCE_ROOT]   check a tree; exit 0 when it keeps every arrow, else 1 with
                                    one line per violation on stdout
    check_arrows.py --self-test [SOURCE_ROOT]
                                    prove the check can fail: on a temporary copy of the tree,
                                    plant a bad include (policy/ including sql/db.h) and a bad
                                    meson dependency (policy/ on sql_dep), and expect exactly
                                    those to be named; exit 0 when they are
"""
import os
import re
import shutil
import sys
import tempfile

ALL = {"cli", "server", "acme", "mail", "checker", "hosted", "sql", "policy", "reports", "common"}
ALLOWED = {
    "cli": ALL - {"cli"},
    "server": {"acme", "checker", "hosted", "mail", "reports", "sql", "policy"},
    "acme": {"hosted"},
    "mail": {"reports", "sql"},
    "checker": {"policy"},
    "hosted": {"sql", "policy"},
    "sql": {"policy", "reports"},
    "policy": set(),
    "reports": set(),
    "common": set(),
}
# Every module may use common/ (and itself).
for _m in ALLOWED:
    if _m != "common":
        ALLOWED[_m] = ALLOWED[_m] | {"common"}

# Top-level folders that are not modules: they may use anything.
NOT_MODULES = {"tests", "fuzz", "bench", "scripts", "examples", "docs", "subprojects"}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([a-z_]+)/')
DEP = re.compile(r"\b([a-z_]+)_dep\b")
DEPS_LIST = re.compile(r"dependencies\s*:\s*\[([^\]]*)\]", re.S)


def is_build_dir(path):
    return os.path.exists(os.path.join(path, "meson-private")) or \
        os.path.exists(os.path.join(path, "build.ninja"))


def module_dirs(root):
    """The top-level folders to check, and problems with the layout itself."""
    mods, problems = [], []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(path) or name in NOT_MODULES:
            continue
        if is_build_dir(path):
            continue
        has_c = any(f.endswith((".c", ".h")) for _, _, fs in os.walk(path) for f in fs)
        if name not in ALLOWED:
            if has_c:
                problems.append("%s/: a folder of C sources that is not a module of the arrow "
                                "table (add it to ALLOWED in %s)" % (name, os.path.basename(__file__)))
            continue
        mods.append(name)
    return mods, problems


def strip_comments(text):
    """C text without /* */ and // comments, line breaks kept (so line numbers hold)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def check_includes(root, mod):
    """Violations of mod's arrows by #include, and the set of modules it includes."""
    bad, used = [], set()
    base = os.path.join(root, mod)
    for dirpath, dirnames, files in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = strip_comments(fh.read()).split("\n")
            for no, line in enumerate(lines, 1):
                m = INCLUDE.match(line)
                if not m or m.group(1) not in ALL or m.group(1) == mod:
                    continue
                used.add(m.group(1))
                if m.group(1) not in ALLOWED[mod]:
                    bad.append("%s:%d: %s/ includes %s/ (%s), an arrow the design does not "
                               "allow (%s/ may use: %s)" %
                               (rel, no, mod, m.group(1), line.strip(), mod,
                                ", ".join(sorted(ALLOWED[mod])) or "nothing"))
    return bad, used


def dep_module(name):
    """The module a meson dependency name belongs to: `sql` for sql_dep, `reports` for a part
    of it such as reports_types_dep; None for a library (ssl_dep, sqlite_dep, ...)."""
    if name in ALL:
        return name
    parts = [m for m in ALL if name.startswith(m + "_")]
    return max(parts, key=len) if parts else None


def check_meson(root, mod, used):
    """Violations of mod's arrows in its meson.build dependencies."""
    path = os.path.join(root, mod, "meson.build")
    rel = os.path.relpath(path, root)
    if not os.path.exists(path):
        has_c = any(f.endswith(".c") for _, _, fs in os.walk(os.path.join(root, mod)) for f in fs)
        return ["%s: missing, but %s/ has C sources" % (rel, mod)] if has_c else []
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    nocomment = "\n".join(re.sub(r"#.*", "", l) for l in text.split("\n"))
    bad, listed = [], set()
    for lst in DEPS_LIST.finditer(nocomment):
        no = nocomment.count("\n", 0, lst.start()) + 1
        for d in DEP.finditer(lst.group(1)):
            dep = dep_module(d.group(1))
            if dep is None or dep == mod:
                continue  # a library (ssl_dep, sqlite_dep, ...) or itself
            listed.add(dep)
            if dep not in ALLOWED[mod]:
                line = no + lst.group(1).count("\n", 0, d.start())
                bad.append("%s:%d: %s/ depends on %s_dep, an arrow the design does not allow "
                           "(%s/ may use: %s)" % (rel, line, mod, dep, mod,
                                                 ", ".join(sorted(ALLOWED[mod])) or "nothing"))
    for dep in sorted(used - listed):
        if dep in ALLOWED[mod]:
            bad.append("%s: %s/ includes %s/ but its dependencies do not list %s_dep" %
                       (rel, mod, dep, dep))
    return bad


def check_tree(root):
    mods, problems = module_dirs(root)
    for mod in mods:
        inc_bad, used = check_includes(root, mod)
        problems += inc_bad
        problems += check_meson(root, mod, used)
    return problems


def self_test(root):
    """Plant one bad include and one bad meson dependency in a copy; both must be named."""
    tmp = tempfile.mkdtemp(prefix="stsd-arrows-")
    try:
        copy = os.path.join(tmp, "src")
        ignore = shutil.ignore_patterns(".git", "build*", "*.o")
        os.mkdir(copy)
        for name in os.listdir(root):
            src = os.path.join(root, name)
            if name in ALLOWED and os.path.isdir(src):
                shutil.copytree(src, os.path.join(copy, name), ignore=ignore)
        before = set(check_tree(copy))
        if before != set(check_tree(root)):
            print("not ok: the copy is not judged as the tree is")
            return 1
        target = os.path.join(copy, "policy", "match.c")
        with open(target, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        lines.insert(2, '#include "sql/db.h"')  # line 3
        lines.insert(3, '/* #include "sql/db.h" in a comment is no include */')
        with open(target, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
        mb = os.path.join(copy, "policy", "meson.build")
        with open(mb, encoding="utf-8") as fh:
            text = fh.read()
        planted = text.replace("dependencies : [common_dep", "dependencies : [sql_dep, common_dep", 1)
        if planted == text:
            print("not ok: policy/meson.build has no 'dependencies : [common_dep' to plant into")
            return 1
        with open(mb, "w", encoding="utf-8") as fh:
            fh.write(planted)
        mb_line = text[:text.index("dependencies : [common_dep")].count("\n") + 1
        new = sorted(set(check_tree(copy)) - before)
        want = ["policy/match.c:3: policy/ includes sql/ (#include \"sql/db.h\")",
                "policy/meson.build:%d: policy/ depends on sql_dep" % mb_line]
        ok = len(new) == len(want) and all(n.startswith(w) for n, w in zip(new, want))
        for line in new:
            print("# planted: " + line)
        print(("ok" if ok else "not ok") +
              ": a planted include of sql/db.h in policy/match.c:3 and a planted sql_dep in "
              "policy/meson.build:%d are named, and nothing else" % mb_line)
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp)


def main(argv):
    args = argv[1:]
    selftest = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    root = os.path.abspath(args[0] if args else
                           os.environ.get("STSD_SOURCE_ROOT") or
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    if selftest:
        return self_test(root)
    problems = check_tree(root)
    for p in problems:
        print(p)
    if not problems:
        print("ok: every #include and meson dependency of %s keeps the module arrows" % root)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
