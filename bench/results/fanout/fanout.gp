set terminal pngcairo size 900,560
set output 'fanout.png'
set title 'fan-out, 200 req/s open loop'
set logscale xy
set grid
set key left top
set xlabel 'percentile'
set ylabel 'latency (ms, from intended send)'
set xtics ('0' 1, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)
plot 'fanout.0.dat' using 1:2 with linespoints title '1 leaves', 'fanout.1.dat' using 1:2 with linespoints title '2 leaves', 'fanout.2.dat' using 1:2 with linespoints title '4 leaves', 'fanout.3.dat' using 1:2 with linespoints title '8 leaves', 'fanout.4.dat' using 1:2 with linespoints title '16 leaves'
