#!/usr/bin/env python3
"""Source hygiene for Lanspread, in the spirit of curl's checksrc.

Two checks over every tracked C file (`git ls-files '*.c' '*.h'`, minus
anything vendored):

  format  the file is exactly what `clang-format` (version 14, the one
          Debian 12 ships) makes of it with the repository's .clang-format;
  banned  no call to a function of BANNED below (comments and string
          literals are ignored).

    scripts/checksrc.py                 both checks
    scripts/checksrc.py --format        only the format check
    scripts/checksrc.py --banned        only the banned-function check
    scripts/checksrc.py --fix           reformat the files in place (`make format`)
    scripts/checksrc.py [...] FILE...   only these files

There is no allowlist and no per-line opt-out: a violation is fixed, not
excused. Exit status: 0 clean, 1 violations (one "FAIL:" line per failed
check), 2 usage or tool error. When clang-format 14 is not available the
format check prints "SKIPPED: ..." and passes (CTest reports it as skipped);
scripts/deps.sh installs it.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

# The banned functions: name -> what to use instead. Each one is banned for a
# reason that holds for every use, so there are no exceptions.
BANNED = {
    # No bound on what is written: the classic buffer overflow. gets() is not
    # even in C11 any more.
    "gets": "fgets",
    "sprintf": "snprintf and check for truncation",
    "vsprintf": "vsnprintf and check for truncation",
    "strcpy": "memcpy with a checked length, or snprintf",
    "strcat": "memcpy at a tracked offset with a checked length, or snprintf",
    # Bounded, but easy to get wrong: strncat's bound is the space left minus
    # one, not the buffer size; strncpy does not NUL-terminate when it
    # truncates (and pads with NULs when it does not).
    "strncat": "memcpy at a tracked offset with a checked length, or snprintf",
    "strncpy": "memcpy with a checked length, or snprintf",
    # No error reporting ("12x" is 12, "x" is 0) and undefined behaviour when
    # the value does not fit.
    "atoi": "strtol with an end pointer, errno and range checks",
    "atol": "strtol with an end pointer, errno and range checks",
    "atoll": "strtoll with an end pointer, errno and range checks",
    "atof": "strtod with an end pointer and errno checks",
    # Hidden static state: neither thread-safe nor reentrant, and the daemon
    # runs several threads (runtime loop, HTTP server, workers).
    "strtok": "strtok_r, or strcspn/strspn",
    "localtime": "localtime_r",
    "gmtime": "gmtime_r",
    "ctime": "strftime with localtime_r",
    "asctime": "strftime",
    # The name can be taken by someone else between the call and the create.
    "tmpnam": "mkstemp or mkdtemp",
    "tempnam": "mkstemp or mkdtemp",
    "mktemp": "mkstemp or mkdtemp",
}

# Path prefixes of third-party code that keeps its own style. None today;
# anything vendored later goes under one of these.
VENDORED = ("third_party/", "vendor/", "external/")

CLANG_FORMAT_MAJOR = 14  # Debian 12 (bookworm)

SOURCE_RE = re.compile(r"\.[ch]$")
CALL_RE = re.compile(r"(?<![\w.>])(" + "|".join(sorted(BANNED)) + r")\s*\(")
FORMAT_RE = re.compile(r"^(.+?):(\d+):\d+: (?:error|warning): code should be clang-formatted")


def source_files(root):
    """Tracked C files, or every C file outside build trees if no git."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--", "*.c", "*.h"],
                             check=True, capture_output=True).stdout
        files = [f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = sorted(x for x in dirs
                             if not x.startswith((".", "build")) and x != "node_modules")
            rel = os.path.relpath(d, root)
            files += [os.path.normpath(os.path.join(rel, n)) for n in sorted(names)
                      if SOURCE_RE.search(n)]
    return [f for f in files
            if not f.startswith(VENDORED) and os.path.isfile(os.path.join(root, f))]


def strip_comments_and_literals(text):
    """Blanks comments, string and character literals, keeping newlines so
    line numbers stay right."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            j = i
            while j < n and text[j] != "\n":
                j += 2 if text[j] == "\\" and j + 1 < n else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            j = i
            while j < n and text[j] not in "/\"'":
                j += 1
            if j == i:
                j = i + 1
            out.append(text[i:j])
            i = j
    return "".join(out)


def check_banned(root, files):
    hits = 0
    hit_files = set()
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            code = strip_comments_and_literals(fh.read())
        for lineno, line in enumerate(code.split("\n"), 1):
            for m in CALL_RE.finditer(line):
                name = m.group(1)
                print(f"{f}:{lineno}: banned function {name} (use {BANNED[name]})")
                hits += 1
                hit_files.add(f)
    if hits:
        print(f"FAIL: banned functions: {hits} call(s) in {len(hit_files)} file(s)")
        return False
    print(f"checksrc: banned functions: OK ({len(files)} files)")
    return True


def find_clang_format():
    """The clang-format binary of the pinned major version, and its version
    line; or None and the reason."""
    candidates = [os.environ.get("CLANG_FORMAT"), f"clang-format-{CLANG_FORMAT_MAJOR}",
                  "clang-format"]
    seen = []
    for name in candidates:
        path = name and shutil.which(name)
        if not path:
            continue
        try:
            version = subprocess.run([path, "--version"], check=True, capture_output=True,
                                     text=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        m = re.search(r"version (\d+)\.", version)
        if m and int(m.group(1)) == CLANG_FORMAT_MAJOR:
            return path, version, None
        seen.append(f"{path}: {version}")
    if seen:
        return None, None, (f"clang-format {CLANG_FORMAT_MAJOR} (Debian 12) not found, only "
                            + "; ".join(seen) + "; other versions format differently")
    return None, None, "clang-format not found (scripts/deps.sh installs it)"


def check_format(root, files, fix):
    clang_format, version, why = find_clang_format()
    if not clang_format:
        if fix:
            print(f"checksrc: cannot reformat: {why}", file=sys.stderr)
            return False
        print(f"SKIPPED: format check: {why}")
        return True
    style = "--style=file:" + os.path.join(root, ".clang-format")
    if fix:
        subprocess.run([clang_format, style, "-i", "--"] + files, cwd=root, check=True)
        print(f"checksrc: reformatted {len(files)} files with {version}")
        return True
    proc = subprocess.run([clang_format, style, "--dry-run", "--Werror", "--"] + files,
                          cwd=root, capture_output=True, text=True)
    first = {}
    for line in proc.stderr.splitlines():
        m = FORMAT_RE.match(line)
        if m:
            first.setdefault(m.group(1), int(m.group(2)))
        elif line.startswith(("error:", "clang-format:")) or ": error: " in line:
            print(f"checksrc: {line}", file=sys.stderr)
    if proc.returncode != 0 and not first:
        print(f"FAIL: format check: {clang_format} exited with {proc.returncode}")
        return False
    for f in files:
        if f in first:
            print(f"{f}:{first[f]}: differs from .clang-format (run 'make format')")
    if first:
        print(f"FAIL: format: {len(first)} of {len(files)} files differ from .clang-format "
              f"({version})")
        return False
    print(f"checksrc: format: OK ({len(files)} files, {version})")
    return True


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Lanspread source hygiene checks")
    ap.add_argument("--root", default=os.path.dirname(here), help="source tree (default: ..)")
    ap.add_argument("--format", action="store_true", help="only the clang-format check")
    ap.add_argument("--banned", action="store_true", help="only the banned-function check")
    ap.add_argument("--fix", action="store_true", help="reformat the files in place")
    ap.add_argument("files", nargs="*", help="files relative to the root (default: all tracked)")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    files = args.files or source_files(root)
    if not files:
        print(f"checksrc: no C files under {root}", file=sys.stderr)
        return 2
    if args.fix:
        return 0 if check_format(root, files, fix=True) else 2
    both = not args.format and not args.banned
    ok = True
    if args.banned or both:
        ok = check_banned(root, files) and ok
    if args.format or both:
        ok = check_format(root, files, fix=False) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
