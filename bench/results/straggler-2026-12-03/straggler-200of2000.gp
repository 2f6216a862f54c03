set terminal pngcairo size 900,560
set output 'straggler-200of2000.png'
set title 'one replica stopped 200 ms every 2000 ms, 300 req/s'
set logscale xy
set grid
set key left top
set xlabel 'percentile'
set ylabel 'latency (ms, from intended send)'
set xtics ('0' 1, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)
plot 'straggler-200of2000.0.dat' using 1:2 with linespoints title 'healthy, hedging on', 'straggler-200of2000.1.dat' using 1:2 with linespoints title 'healthy, hedging off', 'straggler-200of2000.2.dat' using 1:2 with linespoints title 'stopped, hedging on', 'straggler-200of2000.3.dat' using 1:2 with linespoints title 'stopped, hedging off'
