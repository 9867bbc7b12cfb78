# bench.mk: the benchmark's C tools; included by the top Makefile (`make bench`).
#   build/loadgen    MessagePack-RPC load generator (bench/loadgen.c)
#   build/pingpong   cross-process round-trip floor over a socketpair (bench/pingpong.c)

BENCH_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE
BENCH_LIBS   = $(shell pkg-config --cflags --libs msgpack) -lm

.PHONY: bench-bins
bench-bins: build/loadgen build/pingpong

build/loadgen: bench/loadgen.c bench/hist.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ bench/loadgen.c $(BENCH_LIBS)

build/pingpong: bench/pingpong.c bench/hist.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ bench/pingpong.c $(BENCH_LIBS)
