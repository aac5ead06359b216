# Entry points; the scripts under hack/ do the work.
.PHONY: demo demo-keep test bench

# A cluster and a node pool from creation to Ready, update and deletion, with throwaway services.
demo:
	hack/demo.sh

# The same, left running afterwards for poking at the API (Ctrl-C stops it).
demo-keep:
	hack/demo.sh --keep

# Every test, against throwaway PostgreSQL, RabbitMQ and Pub/Sub emulator (what CI runs).
test:
	hack/test.sh

bench:
	hack/bench.sh
