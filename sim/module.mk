# ari-sim extras: the lifecycle benchmark (not part of `make test`).
#   make VARIANT=release ari-sim-bench && build/release/ari-sim-bench --seconds 10
.PHONY: ari-sim-bench
ari-sim-bench: $(B)/ari-sim-bench $(B)/ari-sim

$(B)/ari-sim-bench: $(B)/sim/bench/ari_sim_bench.o
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^
