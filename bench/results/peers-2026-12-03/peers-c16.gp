set terminal pngcairo size 900,560
set output 'peers-c16.png'
set title 'end to end, 16 connections (closed loop)'
set logscale xy
set grid
set key left top
set xlabel 'percentile'
set ylabel 'latency (ms, from intended send)'
set xtics ('0' 1, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)
plot 'peers-c16.0.dat' using 1:2 with linespoints title 'sgsearch', 'peers-c16.1.dat' using 1:2 with linespoints title 'sphinx', 'peers-c16.2.dat' using 1:2 with linespoints title 'xapian'
