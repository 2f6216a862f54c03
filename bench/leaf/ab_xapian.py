#!/usr/bin/python3
"""bench_eval builds and Xapian's driver on one corpus and query file, in one run.

Each round runs, in turn (the builds' order rotating from round to round),
`BUILD/bench/bench_eval IDX/sgs Q --repeat R --mode
MODE --no-verify [--cpu-batch]` for every build, then `XAPIAN_QUERY IDX/xapian
Q --mode MODE --repeat R [--cpu-batch]` (bench/peers/xapian_query.cc), so load
changes hit every engine alike. Prints a Markdown table: per query class and
engine, the median over rounds of the mean thread CPU us per query, of the p50
wall us and of the mean wall us, then the ratios of Xapian's figures to the
last build's.

usage: ab_xapian.py IDX Q ROUNDS R MODE CPU XAPIAN_QUERY BUILD...
       (MODE: top10 or count; CPU: query (clock read around each query) or
       batch (--cpu-batch: read once per run of a class))
"""
import json
import os
import statistics
import subprocess
import sys


def main():
    if len(sys.argv) < 9:
        sys.exit(__doc__)
    idx, q, rounds, rep, mode, cpu, xq = sys.argv[1:8]
    builds = sys.argv[8:]
    batch = ['--cpu-batch'] if cpu == 'batch' else []
    names = [os.path.basename(b.rstrip('/')) for b in builds] + ['xapian']
    res = {n: {} for n in names}  # name -> class -> [(cpu, p50, mean)]
    loads = []
    for rnd in range(int(rounds)):
        # The builds' order turns each round: the build that runs second
        # after Xapian was measured up to 10 % faster at p50 than the first.
        turn = rnd % len(builds)
        for b, n in list(zip(builds, names))[turn:] + list(zip(builds, names))[:turn]:
            with open('/proc/loadavg') as f:
                loads.append(float(f.read().split()[0]))
            out = subprocess.run([os.path.join(b, 'bench', 'bench_eval'), os.path.join(idx, 'sgs'), q,
                                  '--repeat', rep, '--mode', mode, '--no-verify'] + batch,
                                 capture_output=True, text=True, check=True).stdout.splitlines()
            for line in out[2:]:
                c = line.split()
                res[n].setdefault(c[0], []).append((float(c[5]), float(c[3]), float(c[2])))
        with open('/proc/loadavg') as f:
            loads.append(float(f.read().split()[0]))
        out = subprocess.run([xq, os.path.join(idx, 'xapian'), q, '--mode', mode, '--repeat', rep] + batch,
                             capture_output=True, text=True, check=True).stdout.splitlines()
        for line in out:
            r = json.loads(line)
            res['xapian'].setdefault(r['class'], []).append((r['cpu_us'], r['p50_us'], r['mean_us']))
    print('load %.1f-%.1f, %s rounds x repeat %s, mode %s, cpu clock per %s; '
          'median over rounds of: CPU us / p50 us / mean wall us per query'
          % (min(loads), max(loads), rounds, rep, mode, cpu))
    print('| class | ' + ' | '.join(names) + ' | Xapian/%s CPU | p50 |' % names[-2])
    print('|---' * (len(names) + 3) + '|')
    classes = [c for c in res[names[0]] if c != 'all']
    for c in classes:
        med = {n: [statistics.median(v[i] for v in res[n][c]) for i in range(3)] for n in names}
        cells = ['%.1f / %.1f / %.1f' % tuple(med[n]) for n in names]
        last = med[names[-2]]
        print('| %s | %s | %.1fx | %.1fx |' % (c, ' | '.join(cells), med['xapian'][0] / last[0],
                                               med['xapian'][1] / last[1]))


if __name__ == '__main__':
    main()
