"""The progress line on stderr: scenario, peer, repetition, and the time left for the whole run.

On a terminal it is one line redrawn in place; otherwise (a log file, meson test) one line per step. The time
left is the sum of the remaining steps' estimates, scaled by how the steps done so far compared with theirs, so
it corrects itself on a slow or loaded machine.
"""

import sys
import time


def fmt_duration(seconds):
    seconds = max(0, int(seconds + 0.5))
    if seconds >= 3600:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return "%dm%02ds" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


class Progress:
    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.total_estimate = 0.0   # seconds, all scenarios
        self.done_estimate = 0.0    # the estimates of the steps finished
        self.started = time.monotonic()
        self.scenario = ""
        self.scenario_left = 0.0    # estimate not yet used by the current scenario's steps
        self.drawn = False
        self.pending = 0.0          # the estimate of the step running now

    def plan(self, estimate_seconds):
        self.total_estimate += estimate_seconds

    def begin_scenario(self, name, estimate_seconds):
        self.scenario = name
        self.scenario_left = estimate_seconds

    def end_scenario(self):
        self._account(self.pending)
        self.pending = 0.0
        # A scenario that finished early or skipped steps gives its remaining estimate back.
        self.done_estimate += max(0.0, self.scenario_left)
        self.scenario_left = 0.0

    def time_left(self):
        elapsed = time.monotonic() - self.started
        remaining = max(0.0, self.total_estimate - self.done_estimate)
        if self.done_estimate > 30:
            remaining *= max(0.5, min(3.0, elapsed / self.done_estimate))
        return remaining

    def step(self, what, estimate_seconds=0.0):
        """Announces a step that is about to run, and counts the estimate of the previous one as done."""
        self._account(self.pending)
        self.pending = estimate_seconds
        self._draw("[%s] %s" % (self.scenario, what))

    def _account(self, estimate_seconds):
        used = min(self.scenario_left, estimate_seconds)
        self.scenario_left -= used
        self.done_estimate += used

    def _draw(self, text):
        line = "%s  (%s elapsed, ~%s left)" % (text, fmt_duration(time.monotonic() - self.started),
                                               fmt_duration(self.time_left()))
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, text):
        """A line that stays (a skipped peer, a warning), printed above the progress line."""
        if self.tty and self.drawn:
            self.stream.write("\r\033[K")
            self.drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self):
        if self.tty and self.drawn:
            self.stream.write("\r\033[K")
            self.drawn = False
        self.stream.flush()
