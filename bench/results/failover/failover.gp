set terminal pngcairo size 900,560
set output 'failover.png'
set title 'kill -9 one replica of every shard, 400 req/s'
set logscale xy
set grid
set key left top
set xlabel 'percentile'
set ylabel 'latency (ms, from intended send)'
set xtics ('0' 1, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)
plot 'failover.0.dat' using 1:2 with linespoints title 'failover run'
