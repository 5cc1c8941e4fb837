#!/usr/bin/env bash
# The vm.max_map_count demo: seed_mapcount bare, under the guard, and with
# MMAPGUARD_MUNMAP_ENOMEM=release.
# Usage: demo/mapcount/run.sh [BUILD_DIR]   (default: ./build, then the build/ next to demo/)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ $# -ge 1 ]; then
	build=$1
elif [ -d build ]; then
	build=build
else
	build=$here/../../build
fi
build=$(cd "$build" 2>/dev/null && pwd) || { echo "run.sh: no build directory '${1:-}'" >&2; exit 2; }
lib=$build/libmmapguard.so
prog=$build/demo/mapcount/seed_mapcount
for f in "$lib" "$prog"; do
	[ -e "$f" ] || { echo "run.sh: $f not found; build first: cmake --build $build" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mmapguard-mapcount.XXXXXX")
trap 'rm -rf "$work"' EXIT

act() { printf '\n======== %s ========\n' "$*"; }
say() { printf '>>> %s\n' "$*"; }
# One record of a text log: from its "mmapguard: <event>" header line to the next header.
first_record() { awk -v ev="$2" '/^mmapguard: [^ ]/ { n = (index($0, "mmapguard: " ev) == 1) ? n + 1 : (n ? 2 : 0) } n == 1' "$1"; }
count() { grep -c "^mmapguard: $2" "$1" || true; }
summary_line() { grep '^mmapguard: map_limit_summary' "$1" || echo "(no summary record)"; }

printf 'vm.max_map_count is %s on this machine.\n' "$(cat /proc/sys/vm/max_map_count)"
printf '(a) munmap: mmap 2 x vm.max_map_count one-page anonymous mappings, munmap every second one.\n'
printf '(b) free: the same wall reached through glibc malloc(128 KiB) + free().\n'

act "Act 1: bare -- munmap fails with ENOMEM; free() leaks without a word"
say "$prog munmap"
"$prog" munmap
say "$prog free"
"$prog" free
if command -v strace >/dev/null 2>&1; then
	say "strace -f -e trace=munmap $prog free   (glibc's own munmap calls inside free())"
	strace -f -e trace=munmap -o "$work/strace.txt" "$prog" free >/dev/null
	say "munmap calls that failed with ENOMEM: $(grep -c 'ENOMEM' "$work/strace.txt" || true)" \
	    "of $(grep -c 'munmap(' "$work/strace.txt" || true); the program was never told"
	grep -m 2 ENOMEM "$work/strace.txt" || true
else
	say "(strace is not installed: the failing munmap calls inside free() are invisible)"
fi

act "Act 2: LD_PRELOAD=libmmapguard.so -- every failure reported with its stack, a summary at exit"
for what in munmap free; do
	log=$work/guard-$what.log
	say "MMAPGUARD_LOG=$log LD_PRELOAD=$lib $prog $what"
	MMAPGUARD_LOG=$log LD_PRELOAD=$lib "$prog" "$what"
	say "$(count "$log" 'map_limit:') map_limit record(s), $(count "$log" map_count_high) map_count_high; the first map_limit record:"
	first_record "$log" "map_limit:"
	summary_line "$log"
done

act "Act 3: MMAPGUARD_MUNMAP_ENOMEM=release -- the refused munmap drops the pages and returns 0"
log=$work/guard-release.log
say "MMAPGUARD_MUNMAP_ENOMEM=release MMAPGUARD_LOG=$log LD_PRELOAD=$lib $prog munmap"
MMAPGUARD_MUNMAP_ENOMEM=release MMAPGUARD_LOG=$log LD_PRELOAD=$lib "$prog" munmap
say "$(count "$log" 'map_limit:') munmap call(s) answered with MADV_DONTNEED; first line of each record:"
grep '^mmapguard: map_limit:' "$log" | sed 's/0x[0-9a-f]*/ADDR/' | sort | uniq -c
summary_line "$log"
say "the address range stays reserved (a later access reads zeros instead of faulting)"
