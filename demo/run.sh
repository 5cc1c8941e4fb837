#!/usr/bin/env bash
# The mmapguard demo in four acts: the SIGBUS race bare, under the guard in log mode, in block mode;
# then the reload done by a second process, refused in block mode.
# Usage: demo/run.sh [BUILD_DIR]   (default: ./build, then the build/ next to demo/)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ $# -ge 1 ]; then
	build=$1
elif [ -d build ]; then
	build=build
else
	build=$here/../build
fi
build=$(cd "$build" 2>/dev/null && pwd) || { echo "run.sh: no build directory '$1'" >&2; exit 2; }
lib=$build/libmmapguard.so
prog=$build/demo/seed_race
for f in "$lib" "$prog"; do
	[ -e "$f" ] || { echo "run.sh: $f not found; build first: cmake --build $build" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mmapguard-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
config=$work/service.conf
rounds=10
ulimit -c 0    # the crash is the point; no core file

act() { printf '\n======== %s ========\n' "$*"; }
say() { printf '>>> %s\n' "$*"; }
# Run the program; print and keep its exit status without letting set -e end the script.
run() {
	local status=0
	"$@" || status=$?
	if [ "$status" -gt 128 ]; then
		say "exit status $status = 128 + signal $((status - 128)) (SIG$(kill -l "$status"))"
	else
		say "exit status $status"
	fi
	last_status=$status
}
# The first record of a text log: from the first "mmapguard: <call>" header line to the next one.
first_record() { awk '/^mmapguard: [^ ]/ { n++ } n == 1' "$1"; }
records() { grep -c '^mmapguard: [^ ]' "$1" || true; }

printf 'seed_race: a service maps %s MAP_SHARED; thread "reader" reads it all the time,\n' "$(basename "$config")"
printf 'thread "reload" rewrites it with open(O_WRONLY|O_TRUNC) every 20 ms (%d rounds).\n' "$rounds"

act "Act 1: bare -- the reader dies with SIGBUS"
say "$prog $config $rounds"
run "$prog" "$config" "$rounds"
act1=$last_status

act "Act 2: LD_PRELOAD=libmmapguard.so (log mode) -- the report names both stacks, the call proceeds"
log=$work/guard.log
say "MMAPGUARD_LOG=$log LD_PRELOAD=$lib $prog $config $rounds"
MMAPGUARD_LOG=$log LD_PRELOAD=$lib run "$prog" "$config" "$rounds"
act2=$last_status
if [ -s "$log" ]; then
	say "the guard's first report:"
	first_record "$log"
	say "all $(records "$log") record(s) in the log, first line of each:"
	grep '^mmapguard: [^ ]' "$log"
else
	say "no report was written"
fi

act "Act 3: MMAPGUARD_MODE=block -- the truncating open() fails with ETXTBSY, the service runs on"
log3=$work/guard-block.log
say "MMAPGUARD_MODE=block MMAPGUARD_LOG=$log3 LD_PRELOAD=$lib $prog $config $rounds"
MMAPGUARD_MODE=block MMAPGUARD_LOG=$log3 LD_PRELOAD=$lib run "$prog" "$config" "$rounds"
act3=$last_status
say "the guard refused $(records "$log3") call(s); first line of each report:"
grep '^mmapguard: [^ ]' "$log3" | sort | uniq -c || true

act "Act 4: another process does the reload (a guarded sh -c ': > service.conf') -- refused, the service runs on"
log4=$work/guard-other.log
say "MMAPGUARD_MODE=block LD_PRELOAD=$lib $prog $config 0 wait &   (the service: no reload of its own, runs until its input ends)"
mkfifo "$work/input"
MMAPGUARD_SCOPE=all MMAPGUARD_MODE=block LD_PRELOAD=$lib "$prog" "$config" 0 wait < "$work/input" &
service=$!
exec 4> "$work/input"
# `mmapguard who` exits 1 once some process maps the file (0: nobody yet, 2: no file yet)
while :; do
	st=0
	"$build/mmapguard" who "$config" >/dev/null 2>&1 || st=$?
	[ "$st" = 1 ] && break
	sleep 0.01
done
say "MMAPGUARD_MODE=block MMAPGUARD_LOG=$log4 LD_PRELOAD=$lib sh -c ': > $config'"
MMAPGUARD_SCOPE=all MMAPGUARD_MODE=block MMAPGUARD_LOG=$log4 LD_PRELOAD=$lib run sh -c ": > '$config'"
cutter=$last_status
say "the guard's report in the second process:"
first_record "$log4"
say "the service:"
exec 4>&-
act4=0
wait "$service" || act4=$?
say "exit status $act4"

printf '\n======== Summary ========\n'
verdict() { if [ "$2" = "$3" ]; then echo "$1: exit $2 (as expected)"; else echo "$1: exit $2 (expected $3)"; fi; }
verdict "Act 1 bare " "$act1" 135
verdict "Act 2 log  " "$act2" 135
verdict "Act 3 block" "$act3" 0
verdict "Act 4 other" "$act4" 0
verdict "Act 4 cut  " "$cutter" 2
[ "$act1" = 135 ] && [ "$act2" = 135 ] && [ "$act3" = 0 ] && [ "$act4" = 0 ] && [ "$cutter" = 2 ]
