#!/usr/bin/python3
"""A/B of bench_eval builds on one index and query file, in one run.

Runs `BUILD/bench/bench_eval IDX Q --repeat R --mode MODE --no-verify` for
each build in turn, ROUNDS times (alternating, so load changes hit every
build alike), and prints a Markdown table: per query class, the median over
rounds of the mean thread CPU µs per query, and the smallest, in
parentheses, with the load average range of the run.

usage: ab_eval.py IDX Q ROUNDS R MODE BUILD...   (MODE: top10 or count)

With SGS_BENCH_CPU_BATCH=1 in the environment, bench_eval runs with
--cpu-batch (the thread CPU clock read once per run of a class).
"""
import os
import statistics
import subprocess
import sys


def main():
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    idx, q, rounds, rep, mode = sys.argv[1:6]
    builds = sys.argv[6:]
    res = {b: {} for b in builds}
    loads = []
    for rnd in range(int(rounds)):
        # The builds' order turns each round, so none always runs first.
        turn = rnd % len(builds)
        for b in builds[turn:] + builds[:turn]:
            with open('/proc/loadavg') as f:
                loads.append(float(f.read().split()[0]))
            out = subprocess.run([os.path.join(b, 'bench', 'bench_eval'), idx, q, '--repeat', rep,
                                  '--mode', mode, '--no-verify'] +
                                 (['--cpu-batch'] if os.environ.get('SGS_BENCH_CPU_BATCH') == '1' else []),
                                 capture_output=True, text=True, check=True).stdout.splitlines()
            for line in out[2:]:
                c = line.split()
                res[b].setdefault(c[0], []).append(float(c[5]))
    print('load %.1f-%.1f, %s rounds x repeat %s, mode %s; cpu us per query: median (min)'
          % (min(loads), max(loads), rounds, rep, mode))
    print('| class | ' + ' | '.join(os.path.basename(b.rstrip('/')) for b in builds) + ' |')
    print('|---' * (len(builds) + 1) + '|')
    for c in res[builds[0]]:
        print('| %s | ' % c + ' | '.join('%.1f (%.1f)' % (statistics.median(res[b][c]), min(res[b][c]))
                                         for b in builds) + ' |')


if __name__ == '__main__':
    main()
