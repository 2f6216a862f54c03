set terminal pngcairo size 1100,480
set output 'bench/results/peers-2026-12-03/peers.png'
set datafile missing '?'
set multiplot layout 1,2 title 'end to end, 4 shards x 2 replicas, TOP-10, 203637 docs'
set logscale x 2
set grid
set key left top
set xlabel 'connections'
set ylabel 'queries/s'
set logscale y
plot 'bench/results/peers-2026-12-03/peers.dat' using 1:2 with linespoints title 'sgsearch', 'bench/results/peers-2026-12-03/peers.dat' using 1:4 with linespoints title 'sphinx', 'bench/results/peers-2026-12-03/peers.dat' using 1:6 with linespoints title 'xapian'
set ylabel 'p99 latency (ms)'
plot 'bench/results/peers-2026-12-03/peers.dat' using 1:3 with linespoints title 'sgsearch', 'bench/results/peers-2026-12-03/peers.dat' using 1:5 with linespoints title 'sphinx', 'bench/results/peers-2026-12-03/peers.dat' using 1:7 with linespoints title 'xapian'
unset multiplot
