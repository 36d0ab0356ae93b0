"""The shell scripts a container runs: the run script before each command, and the cleanup after one."""

from __future__ import annotations

import shlex

from rlvr.sandbox.exit_status import EXIT_REPORTER

READY = b"rlvr-sandbox-ready\n"  # the run script's last words before it becomes the command
DONE = b"rlvr-cleanup-done"  # the cleanup script's last line; without it the container is discarded
# Where the exit reporter says whether a status above 128 was a signal or an exit code. /dev/shm is
# wiped by every run script and cleanup, and the file only exists after an ambiguous status.
EXIT_REPORT = "/dev/shm/.rlvr-exit"
EXIT_REPORT_CHARS = 16  # longer contents are no report ("signal 64" and "exit 255" are shorter)

# Shell functions of both scripts below. `wipe` empties every place a run can write (the work dir,
# /dev/shm, POSIX message queues, SysV IPC) with shell builtins plus one `rm` when there is something.
_WIPE = """\
nonempty() {
  for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    if [ -e "$f" ] || [ -L "$f" ]; then return 0; fi
  done
  return 1
}
wipe() {
  for d in /work /dev/shm /dev/mqueue; do
    if nonempty "$d"; then
      chmod -R u+rwx "$d" 2>/dev/null
      rm -rf "$d"/* "$d"/.[!.]* "$d"/..?* 2>/dev/null
      if nonempty "$d"; then echo "cannot wipe $d" >&2; return 1; fi
    fi
  done
  for t in shm msg sem; do
    if { read -r _ && read -r _; } < "/proc/sysvipc/$t"; then ipcrm --all 2>/dev/null; break; fi
  done
  return 0
}
"""
# Runs as the run's uid with the exec's stdin = [tar of `files`][stdin]: wipes what an earlier run left
# (only files: the host saw no process of it left), unpacks the files, says READY on stdout and on
# stderr, then becomes the command under the per-run rlimits, with the exit reporter as its parent
# when the image has perl (the reporter is then one more process of the uid; without perl a status of
# 128+n reads as signal n). The command cannot fake READY: on each stream its output follows the
# marker. Both streams carry it because docker does not keep their relative order: when a run is cut
# short, whichever stream arrived starts with it.
RUN_SCRIPT = (
    _WIPE
    + f"reporter={shlex.quote(EXIT_REPORTER)}\n"
    + """\
umask 022
wipe || exit 125
if [ "$1" -gt 0 ]; then head -c "$1" | tar -x -f - || exit 125; fi
cpu=$2 nproc=$3 nofile=$4 fsize=$5
shift 5
set -- --cpu="$cpu" --nofile="$nofile" --fsize="$fsize" --core=0 -- "$@"
printf '%s\\n' READY_MARKER
printf '%s\\n' READY_MARKER >&2
if [ -x /usr/bin/perl ]; then
  exec /usr/bin/perl -e "$reporter" EXIT_REPORT_PATH prlimit --nproc="$((nproc + 1))" "$@"
fi
exec prlimit --nproc="$nproc" "$@"
""".replace("READY_MARKER", READY.decode().strip()).replace("EXIT_REPORT_PATH", EXIT_REPORT)
)
# Also the run's uid, when a run left processes, files are to be collected, or its exit report is to
# be read. Kills all it left (`kill -1` reaches every process of the uid but the caller) until the
# container's pids cgroup holds only the idle init and this shell, writes the files to collect as a
# tar on stdout, reads the exit report, wipes, and reports the report and the container's cgroup
# counters on stderr. Without the final marker the container is discarded.
CLEANUP_SCRIPT = (
    _WIPE
    + """\
if [ -r /sys/fs/cgroup/pids.current ]; then v2=1; pids=/sys/fs/cgroup/pids.current
else v2=; pids=/sys/fs/cgroup/pids/pids.current; fi
i=0
while :; do
  kill -KILL -1 2>/dev/null
  read -r n < "$pids" || exit 3
  if [ "$n" -le 3 ]; then break; fi  # docker-init, its shell, and this shell
  i=$((i + 1))
  if [ "$i" -ge 300 ]; then echo "$n processes survive SIGKILL" >&2; exit 3; fi
  sleep 0.01
done
cd /work || exit 4
if [ "$#" -gt 0 ]; then
  for f in "$@"; do if [ -f "$f" ] && [ ! -L "$f" ]; then printf '%s\\0' "$f"; fi; done \\
    | tar --null --no-recursion -T - -c -f - || exit 5
fi
report=
if [ -f EXIT_REPORT_PATH ] && [ ! -L EXIT_REPORT_PATH ]; then read -r report < EXIT_REPORT_PATH; fi
if [ "${#report}" -gt EXIT_REPORT_CHARS ]; then report=; fi
wipe || exit 6
cpu_ns=-1 oom=-1 events=/sys/fs/cgroup/memory/memory.oom_control
if [ -n "$v2" ]; then
  events=/sys/fs/cgroup/memory.events
  while read -r k v; do if [ "$k" = usage_usec ]; then cpu_ns=${v}000; fi; done < /sys/fs/cgroup/cpu.stat
else
  read -r cpu_ns < /sys/fs/cgroup/cpuacct/cpuacct.usage
fi
while read -r k v; do if [ "$k" = oom_kill ]; then oom=$v; fi; done < "$events"
printf 'report %s\\n' "$report" >&2  # printf: echo would expand backslashes in it
echo "cpu_ns=$cpu_ns oom_kills=$oom" >&2
echo DONE_MARKER >&2
""".replace("DONE_MARKER", DONE.decode())
    .replace("EXIT_REPORT_PATH", EXIT_REPORT)
    .replace("EXIT_REPORT_CHARS", str(EXIT_REPORT_CHARS))
)
