# The surge-night chart of the benchmarks, drawn by bench/run (bench_surge.py):
#   gnuplot -e "datafile='...'; outfile='...'; subtitle='...'" bench/surge.gp
# datafile columns (whitespace separated, '#' comments):
#   1 seconds since the first booking   2 messages waiting (smsqctl stats)
#   3 bookings accepted per second      4 confirmations sent per second
#   5 the provider's limit (per second)
if (!exists("datafile")) datafile = 'build/bench/surge/surge.dat'
if (!exists("outfile")) outfile = 'build/bench/surge/surge.svg'
if (!exists("subtitle")) subtitle = ''

set terminal svg size 960,540 dynamic font "sans,12" background rgb "white"
set output outfile
set title "Surge night, replayed: messages waiting, bookings and confirmations sent\n{/*0.8 ".subtitle."}"
set xlabel "seconds since the first booking of the replay"
set ylabel "messages waiting"
set y2label "per second"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid ytics xtics lc rgb "#dddddd"
set key top right box opaque
set style fill transparent solid 0.25 noborder
plot datafile using 1:2 with filledcurves x1 lc rgb "#4472c4" title "waiting (left axis)", \
     '' using 1:2 with lines lw 2 lc rgb "#2f528f" notitle, \
     '' using 1:3 axes x1y2 with lines lw 1.5 lc rgb "#ed7d31" title "bookings/s (right axis)", \
     '' using 1:4 axes x1y2 with lines lw 1.5 lc rgb "#70ad47" title "sent/s (right axis)", \
     '' using 1:5 axes x1y2 with lines lw 1 dt 2 lc rgb "#c00000" title "provider limit/s (right axis)"
