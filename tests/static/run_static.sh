#!/usr/bin/env bash
# Static analysis of the shim: cppcheck and clang-tidy, with the shim's include paths and defines.
#
#   tests/static/run_static.sh [cppcheck|clang-tidy|all]     (default: all)
#
# Exit status: 0 clean, 1 findings, 77 the tool is not installed (CTest reports a skip).
# clang-tidy's checks and the reason for each family are in /.clang-tidy. cppcheck runs with
# --enable=warning,performance,portability; its suppressions are listed below, each with its reason
# (none so far). Suppress only false positives; report real findings.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
what=${1:-all}
cd "$root"
mapfile -t sources < <(ls shim/*.c)

# What CMakeLists.txt gives the shim: include paths, defines, no fortification, 32-bit off_t names.
unwind_cflags=$(pkg-config --cflags libunwind 2>/dev/null || true)
defines=(-DMG_LIBUNWIND_SONAME=\"libunwind.so.8\" -U_FILE_OFFSET_BITS -U_FORTIFY_SOURCE)
includes=(-Ishim -Iinclude)

# cppcheck suppressions: "id:file" with the reason on the line above. Only false positives.
cppcheck_suppress=(
)

run_cppcheck() {
	command -v cppcheck >/dev/null || { echo "cppcheck not installed (package cppcheck)"; return 77; }
	echo "== cppcheck $(cppcheck --version | sed 's/Cppcheck //') on ${#sources[@]} files"
	local sup=()
	for s in "${cppcheck_suppress[@]}"; do sup+=("--suppress=$s"); done
	# -D fixes the configuration (Linux, x86-64, the build's defines) instead of trying every
	# #ifdef combination; system headers are left to cppcheck's posix/gnu library models.
	cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
		--std=c11 --library=posix --library=gnu --quiet --template=gcc \
		-D__linux__ -D__x86_64__ -D__GNUC__ "${defines[@]}" "${includes[@]}" \
		${sup[@]+"${sup[@]}"} "${sources[@]}"
}

run_clang_tidy() {
	local tidy
	tidy=$(command -v clang-tidy || command -v clang-tidy-16 || command -v clang-tidy-15 ||
	       command -v clang-tidy-14 || true)
	[ -n "$tidy" ] || { echo "clang-tidy not installed (package clang-tidy)"; return 77; }
	echo "== $("$tidy" --version | grep -m1 -i version) on ${#sources[@]} files (checks: .clang-tidy)"
	local out status=0
	out=$(mktemp)
	# one process per file, as many at once as there are cores
	printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -I{} \
		"$tidy" --quiet {} -- -std=gnu11 "${includes[@]}" "${defines[@]}" $unwind_cflags \
		>"$out" 2>&1 || status=1
	grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$out" || true
	rm -f "$out"
	return $status
}

case $what in
cppcheck) run_cppcheck ;;
clang-tidy) run_clang_tidy ;;
all)
	rc=0
	run_cppcheck || rc=$?
	run_clang_tidy || { r=$?; [ $rc -ne 0 ] && [ $rc -ne 77 ] || rc=$r; }
	exit $rc
	;;
*)
	echo "usage: $0 [cppcheck|clang-tidy|all]" >&2
	exit 2
	;;
esac
