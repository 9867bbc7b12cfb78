# erlang.mk: the Erlang client (clients/erlang), included by the top Makefile.
#   make erlang        build the pyrpool OTP application (clients/erlang/ebin)
#   make erlang-test   its EUnit suite against build/pyrpoold (part of make test)
#   make clean         also removes its ebin folders
# The Erlang packages come from scripts/install-deps.sh (make deps).

.PHONY: erlang erlang-test erlang-clean
erlang:
	@$(MAKE) --no-print-directory -C clients/erlang

erlang-test: all
	@echo "== clients/erlang (EUnit)"
	@$(MAKE) --no-print-directory -C clients/erlang test PYRPOOLD=$(CURDIR)/$(BUILD)/pyrpoold

erlang-clean:
	@$(MAKE) --no-print-directory -C clients/erlang clean

clean: erlang-clean
