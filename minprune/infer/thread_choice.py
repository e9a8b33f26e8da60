"""Whether a plan runs a batch on the threads asked or on one thread: timed, and timed again.

A plan asked for more threads (``threads.set_threads``) runs a batch on them only where they
were clearly faster: each batch size's first call times both in ``THREADS_ROUNDS`` rounds,
one thread and the threads in turns, and takes the threads only where they took at most
``THREADS_MARGIN`` of one thread's time in ``THREADS_WINS`` of the rounds. On a machine whose
cores other programs hold, two threads run fast only in the moments both get one: the least
of their times had them chosen where they ran slower than one thread (LeNet-5 90% CSR at batch
64), and so did their median beside two busy loops (0.72x of one thread); round by round,
five of six plans kept one thread there, and on an idle machine five of six took two.

Other programs come and go, so the choice is timed again ``RETIME[0]`` seconds later, then
after twice as long each time, up to ``RETIME[1]``: a plan that chose one thread in another
program's burst does not keep it, nor one that chose two before the machine got busy.
"""
from __future__ import annotations

import time

from .fm_step import best_times

# The threads win a round where they take at most THREADS_MARGIN of one thread's time, and
# are taken where they win THREADS_WINS of THREADS_ROUNDS rounds; RETIME: the seconds until
# the choice is timed again, first and at most (doubling in between).
THREADS_MARGIN = 0.9
THREADS_ROUNDS = 5
THREADS_WINS = 4
RETIME = (1.0, 60.0)


class ThreadChoice:
    """Per (batch, threads asked): whether one thread runs it, and when that is timed again."""

    def __init__(self):
        self.one = {}          # (batch, threads) -> one thread runs it
        self.due = {}          # the same -> (when to time it again, the wait before that)

    def one_thread(self, key, run):
        """Whether the batch of ``key`` (batch, threads) runs on one thread, timed where it is
        not yet or is due again: run(one) runs it on one thread (True) or the threads."""
        if key not in self.one or time.monotonic() >= self.due[key][0]:
            self.one[key] = not threads_win(run)
            wait = min(2 * self.due[key][1], RETIME[1]) if key in self.due else RETIME[0]
            self.due[key] = (time.monotonic() + wait, wait)
        return self.one[key]

    def threads_for(self, batch, asked):
        """``asked`` or 1 as the last timing of a batch of ``batch`` samples chose; None before
        one."""
        if asked == 1:
            return 1
        one = self.one.get((batch, asked))
        return None if one is None else 1 if one else asked


def threads_win(run):
    """Whether run(False) - the threads - took at most ``THREADS_MARGIN`` of run(True)'s time
    - one thread - in ``THREADS_WINS`` of ``THREADS_ROUNDS`` rounds, each timing both."""
    runs = best_times((False, True), run, rounds=THREADS_ROUNDS, keep=list)
    wins = sum(t < THREADS_MARGIN * t1 for t, t1 in zip(runs[False], runs[True]))
    return wins >= THREADS_WINS
