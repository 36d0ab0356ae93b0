"""Reading a sandboxed run's exit status: a death by signal n apart from exit(128+n), and CPU-limit deaths.

Shells, bwrap and docker all report a death by signal n as the status 128+n, the number a program
calling exit(128+n) gets too. `EXIT_REPORTER` runs as the command's parent and writes which of the
two it was; `exit_or_signal` reads a status with that report.
"""

from __future__ import annotations

import signal as signals

from rlvr.sandbox.limits import Limits

# `perl -e EXIT_REPORTER REPORT_PATH COMMAND...` (perl-base is in every Debian, ~1 ms to start) runs
# COMMAND as its child and exits with the status a shell would give. Only when that status is above
# 128 does it write "exit N" or "signal N" to REPORT_PATH, so an unambiguous run leaves no file.
EXIT_REPORTER = r"""
my $path = shift @ARGV;
my $pid = fork() // die "exit reporter: fork: $!\n";
if ($pid == 0) { exec { $ARGV[0] } @ARGV; print STDERR "failed to execute $ARGV[0]: $!\n"; exit 127; }
waitpid($pid, 0);
my ($sig, $code) = ($? & 127, $? >> 8);
my $status = $sig ? 128 + $sig : $code;
if ($status > 128 && open(my $report, ">", $path)) { print $report ($sig ? "signal $sig" : "exit $code"); }
exit($status);
"""


def signal_number(status: int) -> int | None:
    """n when `status` is 128+n for a signal n, the way a death by that signal is reported; else None."""
    n = status - 128
    return n if 0 < n < signals.NSIG else None


def exit_or_signal(status: int, report: bytes = b"") -> tuple[int | None, int | None]:
    """(exit_code, signal) of a run that ended with `status`, one of the two None.

    `report` is what `EXIT_REPORTER` wrote (b"" when nothing). A status of 128+n is a death by signal
    n unless the report says "exit 128+n". The program may write that file itself, but a report not
    naming this very status is ignored, so a forged one can only pick between the two readings of
    the number, both of which the program could have produced honestly.
    """
    n = signal_number(status)
    if n is None or report.strip() == b"exit %d" % status:
        return status, None
    return None, n


def hit_cpu_limit(signal: int | None, cpu_seconds: float, limits: Limits) -> bool:
    """True when a run used more CPU than `limits.cpu_seconds` or died of SIGXCPU (RLIMIT_CPU's soft
    limit, per process; its hard limit a second later is a SIGKILL, caught by the CPU count)."""
    return signal == signals.SIGXCPU or cpu_seconds > limits.cpu_seconds
