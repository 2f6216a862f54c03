set terminal pngcairo size 900,560
set output 'baseline.png'
set title 'baseline 4x2, 1019 req/s open loop'
set logscale xy
set grid
set key left top
set xlabel 'percentile'
set ylabel 'latency (ms, from intended send)'
set xtics ('0' 1, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)
plot 'baseline.0.dat' using 1:2 with linespoints title 'open loop 1019/s', 'baseline.1.dat' using 1:2 with linespoints title 'closed loop max probe'
